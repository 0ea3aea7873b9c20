"""Rows -> ClickHouse embedded (chdb) with files/sql applied by the collection's engine."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "files" / "sql"
ENGINE = ROOT / "plugins" / "module_utils"

pytestmark = pytest.mark.skipif(
    not (SQL.is_dir() and (ENGINE / "migrations.py").exists()),
    reason="files/sql and plugins/module_utils/migrations.py are part of the collection",
)


def sql_columns() -> dict[str, dict[str, str]]:
    """table -> {column: definition} from the CREATE TABLE statements of files/sql."""
    out: dict[str, dict[str, str]] = {}
    for f in sorted(SQL.glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", f.read_text())
        for m in re.finditer(r"CREATE TABLE IF NOT EXISTS \$\{db_data\}\.(\w+)[^(]*\((.*?)\n\)",
                             text, re.S):  # fmt: skip
            cols = {}
            for line in m.group(2).splitlines():
                line = line.strip().rstrip(",")
                if line:
                    name, _, definition = line.partition(" ")
                    cols[name] = definition
            out[m.group(1)] = cols
        # Columns added later by a migration: ALTER TABLE ... ADD COLUMN IF NOT EXISTS.
        for m in re.finditer(r"ALTER TABLE \$\{db_data\}\.(\w+)[^;]*?ADD COLUMN IF NOT EXISTS"
                             r" (\w+) ([^;]*?)(?: AFTER \w+)?;", text, re.S):  # fmt: skip
            out[m.group(1)][m.group(2)] = m.group(3).strip()
    return out


def test_schema_matches_files_sql() -> None:
    sql = sql_columns()
    for table in TABLES.values():
        if not table.in_sql:
            assert table.name not in sql, f"{table.name} is in files/sql now: set in_sql=True"
            continue
        cols = sql[table.name]
        assert set(table.column_names) <= set(cols), (
            table.name,
            set(table.column_names) - set(cols),
        )
        required = {c for c, d in cols.items() if "DEFAULT" not in d and "MATERIALIZED" not in d}
        assert required <= set(table.column_names), (table.name, required - set(table.column_names))


def test_replay_rows_land_in_chdb_exactly(tmp_path: Path, recording_2022: list[str]) -> None:
    chdb_sink = pytest.importorskip("okx_ingestor.sinks").ChdbSink
    pytest.importorskip("chdb")
    sink = chdb_sink(
        tmp_path / "db", sql_dir=SQL, engine_dir=ENGINE, variables={"ttl_raw_days": "10000"}
    )
    pending: dict[str, list[tuple[object, ...]]] = {}
    pipeline = Pipeline(lambda t, r: pending.setdefault(t, []).append(r))
    for raw in recording_2022:
        pipeline.process(raw)
    for table, rows in pending.items():
        batch = Batch(table, rows, batch_token(table, rows), 0)
        sink.write(batch)
        sink.write(batch)  # a retry with the same token is deduplicated
    summary = pipeline.summary()
    rows = summary["rows"]
    assert isinstance(rows, dict)
    assert sink.query("SELECT count() FROM hft_data.raw_ticks").strip() == str(
        rows["hft_data.raw_ticks"]
    )
    assert sink.query("SELECT count() FROM hft_data.book_l2").strip() == str(
        rows["hft_data.book_l2"]
    )
    first = sink.query(
        "SELECT trade_id, toString(price), toString(size), side, toString(ts) "
        "FROM hft_data.raw_ticks ORDER BY ts, trade_id LIMIT 1"
    ).split("\t")
    assert [x.strip() for x in first] == ["7849", "30218.8", "1", "buy", "2022-05-13 16:26:39.958"]
    levels = sink.query(
        "SELECT max(length(bid_prices) + length(ask_prices)) FROM hft_data.book_l2 "
        "WHERE action = 'snapshot' LIMIT 1"
    )
    assert int(levels) == 800
    sink.close()


def test_simulator_to_service_to_chdb(tmp_path: Path) -> None:
    """simulator -> ingestor service -> ClickHouse embedded: rows match what was sent."""
    import asyncio

    pytest.importorskip("chdb")
    from okx_ingestor.config import parse_config
    from okx_ingestor.service import Service
    from okx_ingestor.simulator import Simulator

    async def scenario() -> tuple[list[tuple[str, str]], Service, list[tuple[str, str, str]]]:
        sim = Simulator(["BTC-USDT", "ETH-USDT"], rate=1000)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": ["BTC-USDT", "ETH-USDT"],
                "channels": ["trades", "books", "tickers"],
                "batch": {"max_rows": 200, "max_interval_s": 0.1},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "sinks": {"chdb": {"path": str(tmp_path / "chdb"), "sql_dir": str(SQL),
                                   "engine_dir": str(ENGINE),
                                   "variables": {"ttl_raw_days": 10000}}},
            }
        )  # fmt: skip
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (len(sim.trades_sent) < 100 or len(sim.tickers_sent) < 20) and (
            loop.time() < deadline
        ):
            await asyncio.sleep(0.05)
        sim.rate = 0
        await asyncio.sleep(0.3)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        return list(sim.trades_sent), svc, list(sim.tickers_sent)

    sent, svc, tickers = asyncio.run(scenario())
    assert len(sent) >= 100
    from okx_ingestor.sinks import ChdbSink

    (delivery,) = svc.writer.deliveries
    sink = delivery.sink
    assert isinstance(sink, ChdbSink)
    # the service closed the session at shutdown; reopen the same path to read
    reader = ChdbSink(tmp_path / "chdb")
    got = reader.query("SELECT inst_id, toString(trade_id) FROM hft_data.raw_ticks").split("\n")
    rows = sorted(tuple(line.split("\t")) for line in got if line.strip())
    assert rows == sorted(sent)
    books = reader.query("SELECT count() FROM hft_data.book_l2 WHERE action = 'snapshot'")
    assert int(books) >= 2
    got = reader.query(
        "SELECT inst_id, toString(toUnixTimestamp64Milli(ts)), toString(last) "
        "FROM hft_data.tickers FINAL"
    ).split("\n")
    reader.close()
    stored = sorted((i, ts, Decimal(px)) for i, ts, px in (x.split("\t") for x in got if x.strip()))
    assert stored == sorted((i, ts, Decimal(px)) for i, ts, px in tickers)


INDEX_TICKER = (
    '{"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"idxPx":"0.1","high24h":"0.5","low24h":"0.1","open24h":"0.1","sodUtc0":"0.1",'
    '"sodUtc8":"0.1","ts":"1597026383085"}]}'
)


def test_index_tickers_land_in_chdb(tmp_path: Path) -> None:
    chdb_sink = pytest.importorskip("okx_ingestor.sinks").ChdbSink
    pytest.importorskip("chdb")
    sink = chdb_sink(
        tmp_path / "db", sql_dir=SQL, engine_dir=ENGINE, variables={"ttl_raw_days": "10000"}
    )
    pending: dict[str, list[tuple[object, ...]]] = {}
    Pipeline(lambda t, r: pending.setdefault(t, []).append(r)).process(INDEX_TICKER)
    (rows,) = pending.values()
    sink.write(
        Batch("hft_data.index_tickers", rows, batch_token("hft_data.index_tickers", rows), 0)
    )
    got = sink.query(
        "SELECT inst_id, toString(ts), toString(idx_px), toString(high_24h) "
        "FROM hft_data.index_tickers"
    )
    assert got.strip().split("\t") == ["BTC-USDT", "2020-08-10 02:26:23.085", "0.1", "0.5"]
    channel = sink.query("SELECT type FROM system.columns WHERE table = 'bbo' AND name = 'channel'")
    assert channel.strip() == "LowCardinality(String)"
    sink.close()
