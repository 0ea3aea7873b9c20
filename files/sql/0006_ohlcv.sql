-- OHLCV aggregates of raw_ticks per 1 s and 1 min bucket.
-- The tables hold partial aggregation states; every insert into raw_ticks adds one
-- partial row per (inst_id, bucket) and merges combine them. open/close are
-- argMin/argMax over the (ts, trade_id) tuple, so they are the first/last trade of
-- the bucket whatever the order and batching of inserts. All amounts are Decimal:
-- volume sums size exactly; quote_volume sums price * size exactly at scale 36
-- (Decimal(76, 36), no overflow below 10^40). Read the finalized views ohlcv_1s /
-- ohlcv_1m, not the tables. A retried raw_ticks batch is dropped here too
-- (deduplicate_blocks_in_dependent_materialized_views, on by default since 24.x).
CREATE TABLE IF NOT EXISTS ${db_analytics}.agg_1s ${on_cluster}
(
    inst_id       LowCardinality(String),
    ts            DateTime('UTC')          CODEC(DoubleDelta, LZ4),
    open_state    AggregateFunction(argMin, Decimal(38, 18), Tuple(DateTime64(3, 'UTC'), UInt64)),
    close_state   AggregateFunction(argMax, Decimal(38, 18), Tuple(DateTime64(3, 'UTC'), UInt64)),
    high          SimpleAggregateFunction(max, Decimal(38, 18)),
    low           SimpleAggregateFunction(min, Decimal(38, 18)),
    volume        SimpleAggregateFunction(sum, Decimal(38, 18)),
    quote_volume  SimpleAggregateFunction(sum, Decimal(76, 36)),
    trade_count   SimpleAggregateFunction(sum, UInt64),
    buy_volume    SimpleAggregateFunction(sum, Decimal(38, 18)),
    sell_volume   SimpleAggregateFunction(sum, Decimal(38, 18))
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (inst_id, ts)
TTL ts + INTERVAL ${ttl_agg_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${db_analytics}.agg_1m ${on_cluster}
AS ${db_analytics}.agg_1s
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (inst_id, ts)
TTL ts + INTERVAL ${ttl_agg_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Source columns are qualified (t.ts) so the bucket alias `ts` never shadows them.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db_analytics}.mv_agg_1s ${on_cluster}
TO ${db_analytics}.agg_1s
AS SELECT
    t.inst_id                                                     AS inst_id,
    toDateTime(toStartOfSecond(t.ts), 'UTC')                      AS ts,
    argMinState(t.price, (t.ts, t.trade_id))                      AS open_state,
    argMaxState(t.price, (t.ts, t.trade_id))                      AS close_state,
    max(t.price)                                                  AS high,
    min(t.price)                                                  AS low,
    sum(t.size)                                                   AS volume,
    sum(toDecimal256(t.price, 18) * toDecimal256(t.size, 18))     AS quote_volume,
    toUInt64(count())                                             AS trade_count,
    sumIf(t.size, t.side = 'buy')                                 AS buy_volume,
    sumIf(t.size, t.side = 'sell')                                AS sell_volume
FROM ${db_data}.raw_ticks AS t
GROUP BY inst_id, ts;

-- agg_1m is fed from agg_1s (MVs cascade: an insert into raw_ticks fills agg_1s,
-- whose insert fills agg_1m). Merging the 1 s partial states gives the same exact
-- result as aggregating the trades again, and the 1 min view reads one row per
-- instrument-second instead of every trade (bench: files/sql/README.md).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db_analytics}.mv_agg_1m ${on_cluster}
TO ${db_analytics}.agg_1m
AS SELECT
    s.inst_id                           AS inst_id,
    toStartOfMinute(s.ts, 'UTC')        AS ts,
    argMinMergeState(s.open_state)      AS open_state,
    argMaxMergeState(s.close_state)     AS close_state,
    max(s.high)                         AS high,
    min(s.low)                          AS low,
    sum(s.volume)                       AS volume,
    sum(s.quote_volume)                 AS quote_volume,
    sum(s.trade_count)                  AS trade_count,
    sum(s.buy_volume)                   AS buy_volume,
    sum(s.sell_volume)                  AS sell_volume
FROM ${db_analytics}.agg_1s AS s
GROUP BY inst_id, ts;

-- Finalized candles. ts is the bucket start (UTC); vwap = quote_volume / volume,
-- truncated to 18 decimals.
CREATE VIEW IF NOT EXISTS ${db_analytics}.ohlcv_1s ${on_cluster} AS
SELECT
    inst_id, ts, open, high, low, close, volume, quote_volume,
    toDecimal128(divideDecimal(quote_volume, toDecimal256(volume, 18), 18), 18) AS vwap,
    trade_count, buy_volume, sell_volume
FROM
(
    SELECT
        a.inst_id                   AS inst_id,
        a.ts                        AS ts,
        argMinMerge(a.open_state)   AS open,
        max(a.high)                 AS high,
        min(a.low)                  AS low,
        argMaxMerge(a.close_state)  AS close,
        sum(a.volume)               AS volume,
        sum(a.quote_volume)         AS quote_volume,
        sum(a.trade_count)          AS trade_count,
        sum(a.buy_volume)           AS buy_volume,
        sum(a.sell_volume)          AS sell_volume
    FROM ${db_analytics}.agg_1s AS a
    GROUP BY a.inst_id, a.ts
);

CREATE VIEW IF NOT EXISTS ${db_analytics}.ohlcv_1m ${on_cluster} AS
SELECT
    inst_id, ts, open, high, low, close, volume, quote_volume,
    toDecimal128(divideDecimal(quote_volume, toDecimal256(volume, 18), 18), 18) AS vwap,
    trade_count, buy_volume, sell_volume
FROM
(
    SELECT
        a.inst_id                   AS inst_id,
        a.ts                        AS ts,
        argMinMerge(a.open_state)   AS open,
        max(a.high)                 AS high,
        min(a.low)                  AS low,
        argMaxMerge(a.close_state)  AS close,
        sum(a.volume)               AS volume,
        sum(a.quote_volume)         AS quote_volume,
        sum(a.trade_count)          AS trade_count,
        sum(a.buy_volume)           AS buy_volume,
        sum(a.sell_volume)          AS sell_volume
    FROM ${db_analytics}.agg_1m AS a
    GROUP BY a.inst_id, a.ts
);
