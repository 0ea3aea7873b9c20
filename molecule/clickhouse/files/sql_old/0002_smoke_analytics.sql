CREATE DATABASE IF NOT EXISTS ${db_analytics};
CREATE TABLE IF NOT EXISTS ${db_analytics}.daily_smoke
(
    inst_id String,
    day Date,
    trades UInt64
)
ENGINE = MergeTree()
ORDER BY (inst_id, day);
