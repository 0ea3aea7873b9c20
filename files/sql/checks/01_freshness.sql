-- name: freshness
-- summary: instruments and channels whose newest row is older than the channel's limit
-- threshold: 0
-- An instrument that had data in the window but has been silent for longer than its
-- channel's limit at ${as_of}: a dead subscription, a stalled connection or a sink
-- that stopped writing. Limits (seconds) follow how often OKX pushes each channel:
-- mark-price at least every 10 s, funding-rate every 30-90 s, index-tickers at least
-- once a minute; trades, tickers and books only when something trades or the book
-- changes (the ingestor does not store OKX's book keep-alives, and bbo only when the
-- top changes), so their limits are looser (raise them for illiquid instruments with
-- the stale_*_s variables).
SELECT source_table, channel, inst_id, last_ts,
       dateDiff('second', last_ts, toDateTime64('${as_of}', 3, 'UTC')) AS age_s,
       limit_s
FROM
(
    SELECT 'raw_ticks' AS source_table, 'trades' AS channel, inst_id,
           max(ts) AS last_ts, toInt64(${stale_trades_s}) AS limit_s
    FROM ${db_data}.raw_ticks
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY inst_id
    UNION ALL
    SELECT 'book_l2', toString(channel), inst_id, max(ts), toInt64(${stale_books_s})
    FROM ${db_data}.book_l2
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY channel, inst_id
    UNION ALL
    SELECT 'bbo', toString(channel), inst_id, max(ts), toInt64(${stale_bbo_s})
    FROM ${db_data}.bbo
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY channel, inst_id
    UNION ALL
    SELECT 'tickers', 'tickers', inst_id, max(ts), toInt64(${stale_tickers_s})
    FROM ${db_data}.tickers
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY inst_id
    UNION ALL
    SELECT 'index_tickers', 'index-tickers', inst_id, max(ts), toInt64(${stale_index_s})
    FROM ${db_data}.index_tickers
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY inst_id
    UNION ALL
    SELECT 'funding_rates', 'funding-rate', inst_id, max(ts), toInt64(${stale_funding_s})
    FROM ${db_data}.funding_rates
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY inst_id
    UNION ALL
    SELECT 'mark_prices', 'mark-price', inst_id, max(ts), toInt64(${stale_mark_s})
    FROM ${db_data}.mark_prices
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    GROUP BY inst_id
)
WHERE age_s > limit_s
ORDER BY age_s DESC, source_table, channel, inst_id
