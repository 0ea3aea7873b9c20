"""files/sql on ClickHouse 26.x (chdb, in-process): migrations apply in order and
idempotently, the OHLCV aggregates are exact whatever the insert order and batching,
a retried batch is not counted twice, and every setting name exists in ClickHouse."""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import clickhouse
import migrations

chdb_session = pytest.importorskip("chdb.session", reason="pip install chdb-core")

SQL_DIR = ROOT / "files" / "sql"
EPOCH = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
LATENCY = timedelta(microseconds=4321)


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    session = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield clickhouse.ChdbExecutor(session)
    session.close()


@pytest.fixture(scope="module")
def schema(executor):
    options = migrations.Options(path=SQL_DIR, variables=migrations.default_variables())
    first = migrations.migrate(executor, options)
    second = migrations.migrate(executor, options)
    return first, second


def test_all_migrations_apply_in_order_then_nothing(schema, executor):
    first, second = schema
    names = sorted(p.name for p in SQL_DIR.glob("[0-9]*.sql"))
    assert first.applied == names
    assert second.applied == []
    assert second.pending == []
    assert second.current_version == int(names[-1][:4])
    rows = executor.query("SELECT version FROM hft_meta.schema_migrations ORDER BY version")
    assert [int(r[0]) for r in rows] == [int(n[:4]) for n in names]


def test_schema_has_the_documented_objects(schema, executor):
    rows = executor.query(
        "SELECT database, name, engine FROM system.tables "
        "WHERE database IN ('hft_data', 'hft_analytics') ORDER BY database, name"
    )
    engines = {f"{d}.{n}": e for d, n, e in rows}
    assert engines["hft_data.symbols"] == "ReplacingMergeTree"
    assert engines["hft_data.raw_ticks"] == "MergeTree"
    for name in ("book_l2", "bbo", "funding_rates", "mark_prices"):
        assert f"hft_data.{name}" in engines
    assert engines["hft_data.tickers"] == "ReplacingMergeTree"
    assert engines["hft_data.index_tickers"] == "ReplacingMergeTree"
    for name in (
        "open_interest",
        "price_limits",
        "estimated_prices",
        "liquidations",
        "option_summaries",
        "system_status",
    ):  # 0008, issue 13
        assert engines[f"hft_data.{name}"] == "ReplacingMergeTree", name
    assert engines["hft_analytics.agg_1s"] == "AggregatingMergeTree"
    assert engines["hft_analytics.agg_1m"] == "AggregatingMergeTree"
    assert engines["hft_analytics.mv_agg_1s"] == "MaterializedView"
    assert engines["hft_analytics.mv_agg_1m"] == "MaterializedView"
    assert engines["hft_analytics.ohlcv_1s"] == "View"
    columns = executor.query(
        "SELECT name FROM system.columns WHERE database = 'hft_analytics' "
        "AND table = 'ohlcv_1m' ORDER BY position"
    )
    assert [c[0] for c in columns] == [
        "inst_id", "ts", "open", "high", "low", "close", "volume",
        "quote_volume", "vwap", "trade_count", "buy_volume", "sell_volume",
    ]  # fmt: skip


def test_raw_ticks_types_are_exact(schema, executor):
    rows = executor.query(
        "SELECT name, type FROM system.columns WHERE database = 'hft_data' AND table = 'raw_ticks'"
    )
    types = dict(rows)
    assert types["ts"] == "DateTime64(3, 'UTC')"
    assert types["received_at"] == "DateTime64(6, 'UTC')"
    assert types["price"].startswith("Decimal(") and types["size"].startswith("Decimal(")


def test_tickers_and_bbo_channel_types(schema, executor):
    rows = executor.query(
        "SELECT table, name, type FROM system.columns WHERE database = 'hft_data' "
        "AND table IN ('tickers', 'index_tickers', 'bbo')"
    )
    types = {(t, n): ty for t, n, ty in rows}
    assert types[("tickers", "last")] == "Decimal(38, 18)"
    assert types[("tickers", "bid_px")] == "Nullable(Decimal(38, 18))"
    assert types[("tickers", "ts")] == "DateTime64(3, 'UTC')"
    assert types[("index_tickers", "idx_px")] == "Decimal(38, 18)"
    assert types[("index_tickers", "received_at")] == "DateTime64(6, 'UTC')"
    assert types[("bbo", "channel")] == "LowCardinality(String)"
    for table in ("tickers", "index_tickers"):
        create = executor.query(f"SHOW CREATE TABLE hft_data.{table}")[0][0]
        assert "TTL toDateTime(ts) + toIntervalDay(30)" in create
        assert "non_replicated_deduplication_window = 10000" in create


def test_database_names_and_ttl_days_come_from_variables(executor):
    # chdb allows one database path per process, so this uses other database names.
    variables = migrations.default_variables(
        data_db="ttl_data", analytics_db="ttl_analytics", ttl_raw_days=7, ttl_agg_days=90
    )
    options = migrations.Options(path=SQL_DIR, database="ttl_meta", variables=variables)
    migrations.migrate(executor, options)
    raw = executor.query("SHOW CREATE TABLE ttl_data.raw_ticks")[0][0]
    agg = executor.query("SHOW CREATE TABLE ttl_analytics.agg_1m")[0][0]
    assert "ttl_data.raw_ticks" in executor.query("SHOW CREATE TABLE ttl_analytics.mv_agg_1s")[0][0]
    assert "toIntervalDay(7)" in raw
    assert "toIntervalDay(90)" in agg


# ------------------------------------------------------------------ aggregates


@dataclass(frozen=True)
class Trade:
    inst_id: str
    trade_id: int
    ts: datetime
    price: Decimal
    size: Decimal
    side: str


def generate_trades(seed: int = 7) -> list[Trade]:
    """Three instruments over ~3 minutes; many trades share a millisecond and trade
    ids are not in time order, so (ts, trade_id) ordering is really exercised."""
    rng = random.Random(seed)
    specs = {
        "BTC-USDT": (Decimal("42219.9"), Decimal("0.1"), Decimal("0.00000001")),
        "PEPE-USDT": (Decimal("0.0000123"), Decimal("0.0000001"), Decimal("1")),
        "ETH-USDT-SWAP": (Decimal("2250.01"), Decimal("0.01"), Decimal("0.1")),
    }
    trades = []
    ids = rng.sample(range(10**9, 10**9 + 10**7), 6000)
    for n, trade_id in enumerate(ids):
        inst_id = list(specs)[n % 3]
        base, tick, lot = specs[inst_id]
        ms = rng.randrange(0, 185_000) // 7 * 7  # collisions within a millisecond
        price = base + tick * rng.randint(-500, 500)
        size = lot * rng.randint(1, 10**9)
        side = rng.choice(("buy", "sell"))
        trades.append(
            Trade(inst_id, trade_id, EPOCH + timedelta(milliseconds=ms), price, size, side)
        )
    return trades


def reference(trades: list[Trade], bucket_seconds: int) -> dict[tuple[str, datetime], dict]:
    buckets: dict[tuple[str, datetime], list[Trade]] = {}
    for trade in trades:
        epoch = int(trade.ts.timestamp()) // bucket_seconds * bucket_seconds
        start = datetime.fromtimestamp(epoch, UTC)
        buckets.setdefault((trade.inst_id, start), []).append(trade)
    return {key: candle(group) for key, group in buckets.items()}


def candle(group: list[Trade]) -> dict:
    ordered = sorted(group, key=lambda t: (t.ts, t.trade_id))
    volume = sum((t.size for t in group), Decimal(0))
    quote = sum((t.price * t.size for t in group), Decimal(0))
    return {
        "open": ordered[0].price,
        "high": max(t.price for t in group),
        "low": min(t.price for t in group),
        "close": ordered[-1].price,
        "volume": volume,
        "quote_volume": quote,
        "vwap": (quote / volume).quantize(Decimal("1e-18"), rounding=ROUND_DOWN),
        "trade_count": len(group),
        "buy_volume": sum((t.size for t in group if t.side == "buy"), Decimal(0)),
        "sell_volume": sum((t.size for t in group if t.side == "sell"), Decimal(0)),
    }


def values_sql(batch: list[Trade]) -> str:
    """A retry resends the same rows: received_at is stamped once, at receive time."""
    rows = (
        f"('{t.inst_id}', {t.trade_id}, '{t.ts:%Y-%m-%d %H:%M:%S.%f}', '{t.price}', "
        f"'{t.size}', '{t.side}', '{t.ts + LATENCY:%Y-%m-%d %H:%M:%S.%f}')"
        for t in batch
    )
    return ", ".join(rows)


def insert(executor, batch: list[Trade], token: str | None) -> None:
    settings = f"SETTINGS insert_deduplication_token = '{token}' " if token else ""
    executor.execute(
        "INSERT INTO hft_data.raw_ticks (inst_id, trade_id, ts, price, size, side, "
        f"received_at) {settings}VALUES {values_sql(batch)}"
    )


def fetch(executor, view: str) -> dict[tuple[str, datetime], dict]:
    rows = executor.query(
        "SELECT inst_id, toUnixTimestamp(ts), toString(open), toString(high), "
        "toString(low), toString(close), toString(volume), toString(quote_volume), "
        "toString(vwap), trade_count, toString(buy_volume), toString(sell_volume) "
        f"FROM hft_analytics.{view}"
    )
    names = ("open", "high", "low", "close", "volume", "quote_volume", "vwap")
    result = {}
    for row in rows:
        values = dict(zip(names, (Decimal(v) for v in row[2:9]), strict=True))
        values["trade_count"] = int(row[9])
        values["buy_volume"] = Decimal(row[10])
        values["sell_volume"] = Decimal(row[11])
        result[(row[0], datetime.fromtimestamp(int(row[1]), UTC))] = values
    return result


@pytest.fixture(scope="module")
def loaded(schema, executor):
    """Shuffled batches; the first half carry insert_deduplication_token (what the
    ingestor sends), the rest rely on the block checksum. Two batches are retried."""
    trades = generate_trades()
    shuffled = trades[:]
    random.Random(11).shuffle(shuffled)
    batches = [shuffled[i : i + 250] for i in range(0, len(shuffled), 250)]
    half = len(batches) // 2
    for number, batch in enumerate(batches):
        insert(executor, batch, token=f"batch-{number}" if number < half else None)
    insert(executor, batches[3], token="batch-3")  # retried after a lost acknowledgement
    insert(executor, batches[half + 1], token=None)  # same, untokened batch
    executor.execute("OPTIMIZE TABLE hft_analytics.agg_1s FINAL")  # merging changes nothing
    return trades


def test_retried_batches_are_stored_once(loaded, executor):
    rows = executor.query("SELECT count(), uniqExact(trade_id) FROM hft_data.raw_ticks")
    assert (int(rows[0][0]), int(rows[0][1])) == (len(loaded), len(loaded))


@pytest.mark.parametrize(("view", "seconds"), [("ohlcv_1s", 1), ("ohlcv_1m", 60)])
def test_ohlcv_matches_python_reference(loaded, executor, view, seconds):
    expected = reference(loaded, seconds)
    actual = fetch(executor, view)
    assert set(actual) == set(expected)
    mismatches = [key for key in sorted(expected) if actual[key] != expected[key]]
    assert mismatches == [], (
        f"{len(mismatches)} of {len(expected)} buckets differ; first {mismatches[0]}: "
        f"{actual[mismatches[0]]} != {expected[mismatches[0]]}"
        if mismatches
        else ""
    )


# ------------------------------------------------------------------ setting names

SETTINGS_CLAUSE = re.compile(r"\bSETTINGS\b(?P<body>(?:\s*\w+\s*=\s*[^,;]+,?)+)", re.IGNORECASE)


def setting_names(sql: str) -> list[tuple[str, str]]:
    """(kind, name) for each SETTINGS entry: 'table' in CREATE TABLE, else 'query'."""
    found = []
    for statement in migrations.split_statements(sql):
        code = re.sub(r"--[^\n]*|/\*.*?\*/", " ", statement.sql, flags=re.S).strip()
        kind = "table" if re.match(r"CREATE\s+TABLE", code, re.I) else "query"
        for clause in SETTINGS_CLAUSE.finditer(code):
            for name in re.findall(r"(\w+)\s*=", clause.group("body")):
                found.append((kind, name))
    return found


def test_setting_parser_finds_table_and_query_settings():
    sql = (
        "CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x "
        "SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;\n"
        "INSERT INTO t SETTINGS insert_deduplication_token = 'a' VALUES (1)"
    )
    assert setting_names(sql) == [
        ("table", "index_granularity"),
        ("table", "ttl_only_drop_parts"),
        ("query", "insert_deduplication_token"),
    ]


def test_every_setting_in_files_sql_exists_in_clickhouse(executor):
    table = {r[0] for r in executor.query("SELECT name FROM system.merge_tree_settings")}
    query = {r[0] for r in executor.query("SELECT name FROM system.settings")}
    used = [
        (path.name, kind, name)
        for path in sorted(SQL_DIR.glob("*.sql"))
        for kind, name in setting_names(path.read_text())
    ]
    assert used, "expected files/sql to set at least the deduplication window"
    unknown = [u for u in used if u[2] not in (table if u[1] == "table" else query)]
    assert unknown == [], f"settings unknown to ClickHouse {executor_version(executor)}"


def test_mv_deduplication_is_on_by_default(executor):
    """files/sql relies on it for retried batches; if a release turns it off, the role
    must set it in the ingest profile."""
    rows = executor.query(
        "SELECT value FROM system.settings "
        "WHERE name = 'deduplicate_blocks_in_dependent_materialized_views'"
    )
    assert rows == [("1",)]


def executor_version(executor) -> str:
    return str(executor.query("SELECT version()")[0][0])
