-- Tickers (`tickers`, pushed on change, at most every 100 ms) and index tickers
-- (`index-tickers`). Both are re-sent unchanged after a reconnect: ReplacingMergeTree
-- on (inst_id, ts) keeps one row per exchange timestamp (as mark_prices in 0005), and
-- a retried batch is dropped by block deduplication (insert_deduplication_token, as
-- raw_ticks in 0003). Fields OKX may send as "" are NULL.
CREATE TABLE IF NOT EXISTS ${db_data}.tickers ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),  -- exchange time
    last         Decimal(38, 18)           CODEC(ZSTD(1)),
    last_sz      Decimal(38, 18)           CODEC(ZSTD(1)),
    bid_px       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    bid_sz       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    ask_px       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    ask_sz       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    open_24h     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    high_24h     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    low_24h      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    vol_24h      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    vol_ccy_24h  Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)            -- ingest time
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS ${db_data}.index_tickers ${on_cluster}
(
    inst_id      LowCardinality(String),   -- index, e.g. BTC-USDT
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    idx_px       Decimal(38, 18)           CODEC(ZSTD(1)),
    open_24h     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    high_24h     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    low_24h      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- bbo rows come from `bbo-tbt` / `books5` pushes and from the top of incremental books
-- (`books`, l2-tbt); `channel` tells them apart. Rows written before this column (or by
-- an ingestor that does not send it) read as ''.
ALTER TABLE ${db_data}.bbo ${on_cluster}
    ADD COLUMN IF NOT EXISTS channel LowCardinality(String) DEFAULT '' AFTER inst_id;
