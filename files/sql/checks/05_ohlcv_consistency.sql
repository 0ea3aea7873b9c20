-- name: ohlcv_consistency
-- summary: 1-minute candles that differ from the candles recomputed from raw_ticks
-- threshold: 0
-- ohlcv_1m is filled by materialized views at insert time (files/sql/0006). It drifts
-- from raw_ticks when raw rows are deleted or mutated afterwards, when rows were
-- inserted with the views detached, or when a retry was deduplicated in one table and
-- not the other. Whole minutes of the window only; a minute missing on one side
-- compares as zero trades.
SELECT inst_id, minute,
       raw.trades AS raw_trades, agg.trades AS candle_trades,
       raw.volume AS raw_volume, agg.volume AS candle_volume,
       raw.open AS raw_open, agg.open AS candle_open,
       raw.high AS raw_high, agg.high AS candle_high,
       raw.low AS raw_low, agg.low AS candle_low,
       raw.close AS raw_close, agg.close AS candle_close
FROM
(
    SELECT t.inst_id AS inst_id, toDateTime(toStartOfMinute(t.ts), 'UTC') AS minute,
           count() AS trades, sum(t.size) AS volume,
           argMin(t.price, (t.ts, t.trade_id)) AS open, max(t.price) AS high,
           min(t.price) AS low, argMax(t.price, (t.ts, t.trade_id)) AS close
    FROM ${db_data}.raw_ticks AS t
    WHERE t.ts >= toStartOfMinute(toDateTime64('${since}', 3, 'UTC'))
      AND t.ts < toStartOfMinute(toDateTime64('${until}', 3, 'UTC'))
    GROUP BY inst_id, minute
) AS raw
FULL OUTER JOIN
(
    SELECT c.inst_id AS inst_id, c.ts AS minute, c.trade_count AS trades, c.volume AS volume,
           c.open AS open, c.high AS high, c.low AS low, c.close AS close
    FROM ${db_analytics}.ohlcv_1m AS c
    WHERE c.ts >= toStartOfMinute(toDateTime64('${since}', 3, 'UTC'))
      AND c.ts < toStartOfMinute(toDateTime64('${until}', 3, 'UTC'))
) AS agg
USING (inst_id, minute)
WHERE raw.trades != agg.trades OR raw.volume != agg.volume OR raw.open != agg.open
   OR raw.high != agg.high OR raw.low != agg.low OR raw.close != agg.close
ORDER BY inst_id, minute
