-- name: timestamps
-- summary: rows that arrived too late after their exchange time, or are in the future
-- threshold: 0
-- delay_ms is received_at - ts: the exchange-to-ingest latency. Above max_delay_ms the
-- row is late (a stalled connection, a slow consumer, a replay stored as live); below
-- -max_skew_ms, or ts beyond ${as_of} + max_skew_ms, the exchange time is in the
-- future (a clock off: check chrony/PTP on the ingest host, `make status` shows the
-- offset). Backfilled trades (REST after a reconnect) are late by design: raise
-- max_delay_ms or read the backfill window separately.
SELECT source_table, inst_id, ts, received_at, delay_ms
FROM
(
    SELECT 'raw_ticks' AS source_table, inst_id, ts, received_at,
           dateDiff('millisecond', ts, received_at) AS delay_ms
    FROM ${db_data}.raw_ticks
    WHERE ts >= toDateTime64('${since}', 3, 'UTC')
      AND (ts < toDateTime64('${until}', 3, 'UTC') OR ts > toDateTime64('${as_of}', 3, 'UTC'))
    UNION ALL
    SELECT 'book_l2', inst_id, ts, received_at, dateDiff('millisecond', ts, received_at)
    FROM ${db_data}.book_l2
    WHERE ts >= toDateTime64('${since}', 3, 'UTC')
      AND (ts < toDateTime64('${until}', 3, 'UTC') OR ts > toDateTime64('${as_of}', 3, 'UTC'))
    UNION ALL
    SELECT 'bbo', inst_id, ts, received_at, dateDiff('millisecond', ts, received_at)
    FROM ${db_data}.bbo
    WHERE ts >= toDateTime64('${since}', 3, 'UTC')
      AND (ts < toDateTime64('${until}', 3, 'UTC') OR ts > toDateTime64('${as_of}', 3, 'UTC'))
    UNION ALL
    SELECT 'tickers', inst_id, ts, received_at, dateDiff('millisecond', ts, received_at)
    FROM ${db_data}.tickers
    WHERE ts >= toDateTime64('${since}', 3, 'UTC')
      AND (ts < toDateTime64('${until}', 3, 'UTC') OR ts > toDateTime64('${as_of}', 3, 'UTC'))
)
WHERE delay_ms > ${max_delay_ms} OR delay_ms < -${max_skew_ms}
   OR ts > toDateTime64('${as_of}', 3, 'UTC') + toIntervalMillisecond(${max_skew_ms})
ORDER BY abs(delay_ms) DESC, source_table, inst_id, ts
