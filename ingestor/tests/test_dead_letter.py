"""Permanent insert errors go to the dead-letter directory and never block the spool."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.sinks import (
    Delivery,
    SinkRejected,
    SinkUnavailable,
    classify,
)
from okx_ingestor.spool import DeadLetter, Spool

ROOT = Path(__file__).resolve().parents[2]
TICK = ("BTC-USDT", 1, 1_700_000_000_123, "42219.9", "0.5", "buy", 1, 0, 5, 1_700_000_000_123_456)


def batch(table: str, rows: list[tuple[object, ...]]) -> Batch:
    return Batch(table, rows, batch_token(table, rows), 0)


class ServerError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"Code: {code}. DB::Exception: test")
        self.code = code


@pytest.mark.parametrize("code", [53, 60, 27, 6, 81, 115])
def test_schema_and_type_errors_are_permanent(code: int) -> None:
    err = classify("clickhouse", ServerError(code), "insert")
    assert isinstance(err, SinkRejected)
    assert err.kind == f"clickhouse code {code}"


@pytest.mark.parametrize("code", [252, 241, 159, 209, 210, 516, 999])
def test_load_network_and_auth_errors_are_transient(code: int) -> None:
    assert isinstance(classify("clickhouse", ServerError(code), "insert"), SinkUnavailable)


def test_error_without_code_is_transient_and_code_is_read_from_text() -> None:
    assert isinstance(classify("chdb", RuntimeError("session gone"), "x"), SinkUnavailable)
    err = classify("chdb", RuntimeError("Code: 60. DB::Exception: Unknown table"), "x")
    assert isinstance(err, SinkRejected) and err.kind == "chdb code 60"


class ScriptedSink:
    """Rejects batches of the table `bad`, is down while `down`, stores the rest."""

    name = "scripted"

    def __init__(self) -> None:
        self.down = False
        self.stored: list[str] = []

    def write(self, b: Batch) -> None:
        if self.down:
            raise SinkUnavailable("down")
        if b.table.endswith(".bad"):
            raise SinkRejected("no such table", "scripted code 60")
        self.stored.append(b.token)

    def close(self) -> None:
        pass


def test_rejected_batch_is_dead_lettered_and_the_spool_moves_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = ScriptedSink()
    dead = DeadLetter(tmp_path / "x.dead-letter")
    d = Delivery(sink, Spool(tmp_path / "x"), dead)
    sink.down = True
    bad1, good, bad2 = batch("db.bad", [(1,)]), batch("db.ok", [(2,)]), batch("db.bad", [(3,)])
    for b in (bad1, good, bad2):
        d.submit(b)
    assert len(d.spool) == 3  # type: ignore[arg-type]
    sink.down = False
    d.retry_at = 0.0
    with caplog.at_level(logging.ERROR, logger="okx_ingestor.sinks"):
        assert d.drain() == 3
    assert sink.stored == [good.token]
    assert d.spool is not None and d.spool.empty()
    assert d.dead_letter_batches == 2 and dead.written == 2
    assert sorted(p.name for p in dead.dir.glob("*.json")) == sorted(
        [f"{bad1.token}.json", f"{bad2.token}.json"]
    )
    record = orjson.loads((dead.dir / f"{bad1.token}.json").read_bytes())
    assert record["kind"] == "scripted code 60" and record["table"] == "db.bad"
    assert Batch.decode(orjson.dumps(record["batch"])).rows == [(1,)]
    rejected = [r for r in caplog.records if "rejected for good" in r.getMessage()]
    assert len(rejected) == 1  # logged once per kind
    later = batch("db.ok", [(4,)])
    d.submit(later)
    assert sink.stored[-1] == later.token


def test_dead_letter_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    dead = DeadLetter(tmp_path / "dl", max_bytes=600)
    results = [
        dead.put(batch("db.bad", [(i, "x" * 100)]), sink="s", kind="k", error="e", now_us=0)
        for i in range(5)
    ]
    assert results[0] and not results[-1]
    assert dead.written + dead.dropped == 5 and dead.dropped >= 1
    assert dead.bytes <= 600
    assert not list(dead.dir.glob(".*.tmp"))
    assert DeadLetter(tmp_path / "dl").bytes == dead.bytes  # reopened: size is recounted


def test_sink_without_spool_counts_rejections() -> None:
    sink = ScriptedSink()
    d = Delivery(sink)
    d.submit(batch("db.bad", [(1,)]))
    d.submit(batch("db.ok", [(2,)]))
    assert d.dead_letter_batches == 1 and len(sink.stored) == 1


def test_clickhouse_server_unknown_table_is_dead_lettered(
    clickhouse_server: int, tmp_path: Path
) -> None:
    """Real clickhouse-server (18.16): code 60 -> dead letter; the next good batch lands."""
    from clickhouse_driver import Client
    from okx_ingestor.sinks import ClickHouseSink

    admin = Client("127.0.0.1", port=clickhouse_server)
    admin.execute("CREATE DATABASE IF NOT EXISTS dl_ok")
    admin.execute("CREATE DATABASE IF NOT EXISTS dl_empty")
    # 18.16 dialect (no DateTime64/LowCardinality): the driver encodes into these types.
    admin.execute(
        "CREATE TABLE IF NOT EXISTS dl_ok.raw_ticks (inst_id String, trade_id UInt64, "
        "ts DateTime, price Decimal(38, 18), size Decimal(38, 18), "
        "side Enum8('buy' = 1, 'sell' = 2), count UInt32, source UInt8, seq_id Int64, "
        "received_at DateTime) ENGINE = MergeTree() ORDER BY (inst_id, ts)"
    )
    # 18.16 has no insert_deduplication_token (it would be code 115, permanent too)
    sink = ClickHouseSink({"port": clickhouse_server, "dedup_token": False})
    d = Delivery(sink, Spool(tmp_path / "clickhouse"), DeadLetter(tmp_path / "dl"))
    bad = batch("dl_empty.raw_ticks", [TICK])
    d.submit(bad)
    d.submit(batch("dl_ok.raw_ticks", [TICK]))
    assert d.dead_letter_batches == 1 and d.delivered_batches == 1 and d.up
    assert d.spool is not None and d.spool.empty()
    record = orjson.loads((tmp_path / "dl" / f"{bad.token}.json").read_bytes())
    assert record["kind"] == "clickhouse code 60"
    stored = admin.execute("SELECT inst_id, toString(price) FROM dl_ok.raw_ticks")
    assert [(i, Decimal(p)) for i, p in stored] == [("BTC-USDT", Decimal("42219.9"))]
    sink.close()


def test_chdb_type_error_is_dead_lettered(tmp_path: Path) -> None:
    """chdb (26.x): an enum value the table does not know is permanent; next batch lands."""
    pytest.importorskip("chdb")
    from okx_ingestor.sinks import ChdbSink

    sink = ChdbSink(
        tmp_path / "db",
        sql_dir=ROOT / "files" / "sql",
        engine_dir=ROOT / "plugins" / "module_utils",
        variables={"ttl_raw_days": "10000"},
    )
    try:
        d = Delivery(sink, Spool(tmp_path / "chdb"), DeadLetter(tmp_path / "dl"))
        d.submit(batch("hft_data.raw_ticks", [(*TICK[:5], "sideways", *TICK[6:])]))
        d.submit(batch("hft_data.raw_ticks", [TICK]))
        assert d.dead_letter_batches == 1 and d.delivered_batches == 1
        (record,) = [orjson.loads(p.read_bytes()) for p in (tmp_path / "dl").glob("*.json")]
        assert record["kind"].startswith("chdb code ")
        assert sink.query("SELECT count() FROM hft_data.raw_ticks").strip() == "1"
    finally:
        sink.close()


class BuggySink(ScriptedSink):
    def write(self, b: Batch) -> None:
        if b.table.endswith(".bug"):
            raise KeyError("a bug in the sink")
        super().write(b)


def test_unexpected_sink_error_is_dead_lettered_not_fatal(tmp_path: Path) -> None:
    sink = BuggySink()
    d = Delivery(sink, Spool(tmp_path / "x"), DeadLetter(tmp_path / "dl"))
    d.submit(batch("db.bug", [(1,)]))
    d.submit(batch("db.ok", [(2,)]))
    assert d.dead_letter_batches == 1 and len(sink.stored) == 1


def test_unwritable_dead_letter_counts_the_loss_and_goes_on(tmp_path: Path) -> None:
    sink = ScriptedSink()
    dead = DeadLetter(tmp_path / "dl")
    d = Delivery(sink, Spool(tmp_path / "x"), dead)
    dead.dir.rmdir()  # e.g. removed by hand while running
    d.submit(batch("db.bad", [(1,)]))
    d.submit(batch("db.ok", [(2,)]))
    assert (d.dead_letter_batches, dead.written, dead.dropped) == (1, 0, 1)
    assert len(sink.stored) == 1


def test_same_batch_rejected_twice_is_kept_once(tmp_path: Path) -> None:
    dead = DeadLetter(tmp_path / "dl")
    b = batch("db.bad", [(1,)])
    assert dead.put(b, sink="s", kind="k", error="e", now_us=0)
    assert dead.put(b, sink="s", kind="k", error="e", now_us=1)
    assert dead.written == 2 and len(list(dead.dir.glob("*.json"))) == 1


def test_cli_lists_and_requeues_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from okx_ingestor.cli import main

    spool_dir = tmp_path / "spool"
    conf = tmp_path / "c.yaml"
    conf.write_text(
        f"instruments: [BTC-USDT]\nspool: {{dir: {spool_dir}}}\n"
        "sinks: {clickhouse: {host: 127.0.0.1}, jsonl: {path: /tmp/x.jsonl}}\n"
    )
    bad = batch("hft_data.raw_ticks", [TICK])
    DeadLetter(spool_dir / "clickhouse.dead-letter").put(
        bad, sink="clickhouse", kind="clickhouse code 60", error="no table", now_us=0
    )
    assert main(["dead-letter", "--config", str(conf)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    listed = orjson.loads(line)
    assert (listed["sink"], listed["kind"], listed["rows"]) == (
        "clickhouse",
        "clickhouse code 60",
        1,
    )
    assert main(["dead-letter", "--config", str(conf), "--requeue"]) == 0
    assert orjson.loads(capsys.readouterr().out) == {"sink": "clickhouse", "requeued": 1}
    assert not list((spool_dir / "clickhouse.dead-letter").glob("*.json"))
    (again,) = list(Spool(spool_dir / "clickhouse").peek())
    assert again.token == bad.token and again.rows == [TICK]
