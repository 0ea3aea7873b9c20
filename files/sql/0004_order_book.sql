-- Order book L2 messages (`books`, `books50-l2-tbt`, `books-l2-tbt`): one row per
-- message, levels as parallel arrays so a message stays one unit. action is
-- 'snapshot' (prev_seq_id = -1) or 'update'; seq_id / prev_seq_id chain the messages
-- (they can reset after maintenance, hence signed). checksum is deprecated by OKX
-- (fixed to 0 since June 2026) but kept for older recordings.
CREATE TABLE IF NOT EXISTS ${db_data}.book_l2 ${on_cluster}
(
    inst_id      LowCardinality(String),
    channel      LowCardinality(String),
    action       Enum8('snapshot' = 1, 'update' = 2),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    seq_id       Int64                     CODEC(Delta, LZ4),
    prev_seq_id  Int64                     CODEC(Delta, LZ4),
    checksum     Int32 DEFAULT 0,
    bid_prices   Array(Decimal(38, 18))    CODEC(ZSTD(1)),
    bid_sizes    Array(Decimal(38, 18))    CODEC(ZSTD(1)),
    bid_orders   Array(UInt32)             CODEC(ZSTD(1)),
    ask_prices   Array(Decimal(38, 18))    CODEC(ZSTD(1)),
    ask_sizes    Array(Decimal(38, 18))    CODEC(ZSTD(1)),
    ask_orders   Array(UInt32)             CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts, seq_id)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- Best bid/offer (`bbo-tbt`, 10 ms snapshots of the top level).
CREATE TABLE IF NOT EXISTS ${db_data}.bbo ${on_cluster}
(
    inst_id      LowCardinality(String),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    seq_id       Int64                     CODEC(Delta, LZ4),
    bid_px       Decimal(38, 18)           CODEC(ZSTD(1)),
    bid_sz       Decimal(38, 18)           CODEC(ZSTD(1)),
    bid_orders   UInt32,
    ask_px       Decimal(38, 18)           CODEC(ZSTD(1)),
    ask_sz       Decimal(38, 18)           CODEC(ZSTD(1)),
    ask_orders   UInt32,
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts, seq_id)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
