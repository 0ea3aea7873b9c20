-- A tiny schema in the old dialect of Debian's clickhouse-server 18.16 (files/sql needs
-- 26.x): proves that the role's admin user and port work with clickhouse_migrate, and
-- gives the user tests a table in each database.
CREATE DATABASE IF NOT EXISTS ${db_data};
CREATE TABLE IF NOT EXISTS ${db_data}.ticks_smoke
(
    inst_id String,
    ts DateTime,
    price Float64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (inst_id, ts);
