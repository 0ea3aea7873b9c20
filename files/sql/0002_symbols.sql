-- OKX instruments from GET /api/v5/public/instruments. One row per fetch; the
-- latest fetch wins (ReplacingMergeTree on updated_at): read with FINAL or argMax.
-- Optional numeric fields that OKX sends as "" are NULL.
CREATE TABLE IF NOT EXISTS ${db_data}.symbols ${on_cluster}
(
    inst_id       LowCardinality(String),
    inst_type     LowCardinality(String),   -- SPOT, MARGIN, SWAP, FUTURES, OPTION
    inst_family   LowCardinality(String),
    uly           LowCardinality(String),
    base_ccy      LowCardinality(String),
    quote_ccy     LowCardinality(String),
    settle_ccy    LowCardinality(String),
    ct_val        Nullable(Decimal(38, 18)),
    ct_mult       Nullable(Decimal(38, 18)),
    ct_val_ccy    LowCardinality(String),
    ct_type       LowCardinality(String),   -- linear, inverse, or empty
    tick_sz       Decimal(38, 18),
    lot_sz        Decimal(38, 18),
    min_sz        Decimal(38, 18),
    state         LowCardinality(String),   -- live, suspend, preopen, ...
    list_time     Nullable(DateTime64(3, 'UTC')),
    exp_time      Nullable(DateTime64(3, 'UTC')),
    inst_id_code  Nullable(Int64),
    updated_at    DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ${replicated}ReplacingMergeTree(updated_at)
ORDER BY inst_id;
