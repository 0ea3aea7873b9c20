-- Funding rates (`funding-rate`, every 30-90 s) and mark prices (`mark-price`).
-- Both are re-sent unchanged after reconnects: ReplacingMergeTree on (inst_id, ts)
-- keeps one row per exchange timestamp. Fields OKX may send as "" are NULL.
CREATE TABLE IF NOT EXISTS ${db_data}.funding_rates ${on_cluster}
(
    inst_id            LowCardinality(String),
    inst_type          LowCardinality(String),
    ts                 DateTime64(3, 'UTC'),
    funding_rate       Decimal(38, 18),
    funding_time       DateTime64(3, 'UTC'),
    next_funding_time  DateTime64(3, 'UTC'),
    premium            Nullable(Decimal(38, 18)),
    sett_funding_rate  Nullable(Decimal(38, 18)),
    sett_state         LowCardinality(String),
    min_funding_rate   Nullable(Decimal(38, 18)),
    max_funding_rate   Nullable(Decimal(38, 18)),
    impact_value       Nullable(Decimal(38, 18)),
    interest_rate      Nullable(Decimal(38, 18)),
    method             LowCardinality(String),
    formula_type       LowCardinality(String),
    received_at        DateTime64(6, 'UTC')
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY;

CREATE TABLE IF NOT EXISTS ${db_data}.mark_prices ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    mark_px      Decimal(38, 18)           CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS ttl_only_drop_parts = 1;
