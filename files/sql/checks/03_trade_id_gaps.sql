-- name: trade_id_gaps
-- summary: trade ids missing between consecutive stored trades of an instrument
-- threshold: 0
-- OKX numbers the trades of an instrument consecutively; a `trades` message aggregates
-- `count` matches and carries the last id, so it covers ids
-- [trade_id - count + 1, trade_id]. A message whose first id is above the previous
-- message's trade_id + 1 means trades were lost (a disconnect that was not backfilled,
-- a dropped batch). Duplicates are left to duplicate_trade_ids (DISTINCT here).
SELECT inst_id, prev_trade_id, trade_id, count,
       trade_id - prev_trade_id - count AS missing
FROM
(
    SELECT inst_id, trade_id, count,
           lagInFrame(trade_id) OVER w AS prev_trade_id,
           row_number() OVER w AS n
    FROM
    (
        SELECT DISTINCT inst_id, trade_id, count
        FROM ${db_data}.raw_ticks
        WHERE ts >= toDateTime64('${since}', 3, 'UTC')
          AND ts < toDateTime64('${until}', 3, 'UTC')
    )
    WINDOW w AS (PARTITION BY inst_id ORDER BY trade_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE n > 1 AND trade_id > prev_trade_id + count
ORDER BY missing DESC, inst_id, trade_id
