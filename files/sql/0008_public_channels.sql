-- The other OKX public channels (issue 13). Shapes: OKX v5 docs, 2026-06-15 scrape
-- (github:qiuham/crypto-api-docs docs/okx/public/data/websocket-*-channel.md and
-- docs/okx/status/ws/status-channel.md). The `instruments` channel needs no table: its
-- items are the entries of GET /public/instruments and go to symbols (0002), the
-- newest push or fetch winning (ReplacingMergeTree on updated_at).
--
-- Every table here is re-sent unchanged after a reconnect (OKX pushes the current
-- value on subscribe): ReplacingMergeTree(received_at) on the row's identity keeps one
-- row per exchange timestamp, as mark_prices / tickers do (0005, 0007), and a retried
-- batch is dropped by block deduplication (insert_deduplication_token, as raw_ticks in
-- 0003). Fields OKX may send as "" are NULL.

-- `open-interest` (per instId, pushed every 3 s when it changes).
CREATE TABLE IF NOT EXISTS ${db_data}.open_interest ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),  -- exchange time
    oi           Decimal(38, 18)           CODEC(ZSTD(1)),           -- contracts
    oi_ccy       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),           -- in coin
    oi_usd       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)         -- ingest time
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- `price-limit` (per instId, every 200 ms when the limits change). buy_lmt / sell_lmt
-- are NULL when enabled = 0 (OKX sends "").
CREATE TABLE IF NOT EXISTS ${db_data}.price_limits ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),   -- '' when OKX leaves it out (its example does)
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    buy_lmt      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),           -- highest buy price
    sell_lmt     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),           -- lowest sell price
    enabled      UInt8,
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- `estimated-price` (instType + instId; about every 200 ms in the hour before a
-- delivery, exercise or settlement).
CREATE TABLE IF NOT EXISTS ${db_data}.estimated_prices ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),   -- FUTURES, SWAP, OPTION
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    settle_type  LowCardinality(String),   -- settlement, delivery, exercise
    settle_px    Decimal(38, 18)           CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- `liquidation-orders` (per instType): one row per entry of an item's `details`. OKX
-- gives no id, and two liquidations of one instrument in the same millisecond are
-- possible, so the whole row (NULL read as 0) is its identity; OKX notes the pushes
-- are not in time order.
CREATE TABLE IF NOT EXISTS ${db_data}.liquidations ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_type    LowCardinality(String),   -- SWAP, FUTURES, MARGIN, OPTION
    inst_family  LowCardinality(String),   -- '' for MARGIN
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),  -- liquidation time
    side         LowCardinality(String),   -- buy, sell; '' for MARGIN / OPTION
    pos_side     LowCardinality(String),   -- long, short, net
    bk_px        Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),           -- bankruptcy price
    sz           Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),           -- contracts; base ccy for MARGIN
    bk_loss      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    ccy          LowCardinality(String),   -- MARGIN only
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts, side, pos_side, assumeNotNull(sz), assumeNotNull(bk_px),
          assumeNotNull(bk_loss), ccy)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- `opt-summary` (per instFamily): greeks and volatilities of every option of the family
-- in one push. Greeks may be negative; "" (realVol, unused by OKX) is NULL.
CREATE TABLE IF NOT EXISTS ${db_data}.option_summaries ${on_cluster}
(
    inst_id      LowCardinality(String),
    inst_family  LowCardinality(String),
    uly          LowCardinality(String),
    ts           DateTime64(3, 'UTC')      CODEC(DoubleDelta, LZ4),
    delta        Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    gamma        Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    vega         Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    theta        Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    delta_bs     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    gamma_bs     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    vega_bs      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    theta_bs     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    lever        Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    mark_vol     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    bid_vol      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    ask_vol      Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    real_vol     Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    vol_lv       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    fwd_px       Nullable(Decimal(38, 18)) CODEC(ZSTD(1)),
    received_at  DateTime64(6, 'UTC')      CODEC(Delta, LZ4)
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (inst_id, ts)
TTL toDateTime(ts) + INTERVAL ${ttl_raw_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- `status` (no argument): system maintenance announcements. OKX pushes the latest one
-- on every subscribe, then each change. begin/end are scheduled times (may lie ahead);
-- ts is when OKX pushed the change. A small table: monthly parts, kept like aggregates.
CREATE TABLE IF NOT EXISTS ${db_data}.system_status ${on_cluster}
(
    ts             DateTime64(3, 'UTC'),
    title          String,
    state          LowCardinality(String),   -- scheduled, ongoing, pre_open, completed, canceled
    begin_time     Nullable(DateTime64(3, 'UTC')),
    end_time       Nullable(DateTime64(3, 'UTC')),  -- expected, then actual end
    pre_open_time  Nullable(DateTime64(3, 'UTC')),
    href           String,
    service_type   LowCardinality(String),   -- 0 WebSocket, 5 trading service, ...
    system         LowCardinality(String),   -- unified
    sche_desc      String,
    maint_type     LowCardinality(String),   -- 1 scheduled, 2 unscheduled, 3 disruption
    env            LowCardinality(String),   -- 1 production, 2 demo trading
    received_at    DateTime64(6, 'UTC')
)
ENGINE = ${replicated}ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, title, state, service_type)
TTL toDateTime(ts) + INTERVAL ${ttl_agg_days} DAY;
