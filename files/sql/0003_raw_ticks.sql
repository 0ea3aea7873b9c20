-- Every trade of the OKX `trades` (or `trades-all`) channel.
-- A retried batch is dropped by block deduplication: the ingestor sends each batch
-- with insert_deduplication_token, and the table keeps the last
-- non_replicated_deduplication_window block ids (replicated tables always dedup).
-- Codecs were chosen by measurement (bench/clickhouse_insert.py, files/sql/README.md).
CREATE TABLE IF NOT EXISTS ${db_data}.raw_ticks ${on_cluster}
(
    inst_id      LowCardinality(String),
    trade_id     UInt64                    CODEC(Delta, ZSTD(1)),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, ZSTD(1)),  -- exchange time
    price        Decimal(38, 18)           CODEC(ZSTD(1)),
    size         Decimal(38, 18)           CODEC(ZSTD(1)),
    side         Enum8('buy' = 1, 'sell' = 2),
    count        UInt32 DEFAULT 1,         -- matches aggregated into this message
    source       UInt8 DEFAULT 0,          -- 0 normal order, 1 enhanced liquidity
    seq_id       Int64 DEFAULT 0           CODEC(Delta, LZ4),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, ZSTD(1))     -- ingest time
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts, trade_id)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
