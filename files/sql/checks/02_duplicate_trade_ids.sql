-- name: duplicate_trade_ids
-- summary: trades stored more than once (same instrument and trade id)
-- threshold: 0
-- raw_ticks is a plain MergeTree: a retried batch is dropped by block deduplication
-- and the ingestor drops a reconnect's overlap by trade id, so a trade id seen twice
-- is a defect (a retry without its deduplication token, a backfill that did not
-- deduplicate, or trades and trades-all subscribed for one instrument).
SELECT inst_id, trade_id, count() AS copies,
       min(received_at) AS first_received, max(received_at) AS last_received
FROM ${db_data}.raw_ticks
WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
GROUP BY inst_id, trade_id
HAVING copies > 1
ORDER BY copies DESC, inst_id, trade_id
