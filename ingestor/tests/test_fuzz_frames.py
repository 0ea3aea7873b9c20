"""Issue 13's fuzz run, in `make test`: real (2022 recording) and simulated frames with
mutated copies in every class of the issue (tests/fuzzcorpus.py: huge integers, huge
ts, Unicode digits, exponents, negatives, > 20 digits, ts 0, binary frames, odd events,
wrong instId, missing fields, wrong types, truncated JSON), through `replay` and through
the live WebSocket path (simulator -> service -> chdb, a real redis-server, JSON lines).

Asserted: no crash (no contained stage error), no dead thread (the service exits 0,
no failed stage), every mutant quarantined exactly once with a reason, every row of
the clean frames stored (counts in = counts out, row by row), and the same result on
the C and the pure-Python paths (replay compared across both in one run; the live test
runs in both suite runs of `make unit`). Seeded: the same corpus every run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis
from fuzzcorpus import CHANNELS, SUBSCRIBED, Corpus, build_corpus
from okx_ingestor import speedups
from okx_ingestor.config import parse_config
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.quarantine import truncated
from okx_ingestor.replay import replay_file
from okx_ingestor.schema import TABLES, row_to_json
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "files" / "sql"
ENGINE = ROOT / "plugins" / "module_utils"
# The size of the run: ~52,000 frames, ~12,000 of them mutated.
N_SIMULATED = 40_000
LIVE_SIMULATED = 40_000  # the live path: the same size, through a real WebSocket


@pytest.fixture(scope="module")
def corpus(recording_2022: list[str]) -> Corpus:
    return build_corpus(recording_2022, N_SIMULATED)


def _write(path: Path, frames: list[str | bytes]) -> None:
    with path.open("wb") as fh:
        for f in frames:
            fh.write(f if isinstance(f, bytes) else f.encode())
            fh.write(b"\n")


def _rows_without_receive_time(path: Path) -> list[dict[str, object]]:
    """replay's output rows, `received_at` (the wall clock of the run) left out."""
    out = []
    for line in path.read_bytes().splitlines():
        item = orjson.loads(line)
        item["row"].pop("received_at", None)
        out.append(item)
    return out


def _reasons(quarantine_file: Path) -> list[tuple[str, str]]:
    return [
        (r["reason"], r["frame"])
        for r in map(orjson.loads, quarantine_file.read_bytes().splitlines())
    ]


def _summary_line(path: str, corpus: Corpus, quarantined: Counter[str], crashes: int,
                  dead: int, lost: int) -> str:  # fmt: skip
    return (
        f"fuzz[{path}, speedups={speedups.IMPLEMENTATION}]: frames {len(corpus.frames)}, "
        f"mutated {len(corpus.mutants)} {dict(sorted(corpus.per_class.items()))}, "
        f"crashes {crashes}, dead threads {dead}, rows lost {lost}, "
        f"quarantined {sum(quarantined.values())} {dict(sorted(quarantined.items()))}"
    )


def test_fuzz_replay_quarantines_every_mutant_and_stores_every_clean_row(
    tmp_path: Path, corpus: Corpus
) -> None:
    fuzzed, clean = tmp_path / "fuzzed.jsonl", tmp_path / "clean.jsonl"
    _write(fuzzed, corpus.frames)
    _write(clean, list(corpus.clean))
    quarantine = tmp_path / "quarantine.jsonl"
    summary = replay_file(fuzzed, tmp_path / "out.jsonl", quarantine_path=quarantine,
                          inst_ids=SUBSCRIBED)  # fmt: skip
    reference = replay_file(clean, tmp_path / "ref.jsonl", inst_ids=SUBSCRIBED)

    # Every clean row stored, in order, whatever the mutants around it did.
    rows, ref_rows = (
        _rows_without_receive_time(tmp_path / "out.jsonl"),
        _rows_without_receive_time(tmp_path / "ref.jsonl"),
    )
    lost = len(ref_rows) - sum(a == b for a, b in zip(rows, ref_rows, strict=False))
    assert rows == ref_rows
    assert summary["rows"] == reference["rows"] and sum(reference["rows"].values()) > 40_000  # type: ignore[union-attr]
    # Every mutant quarantined exactly once, in feed order, with a reason; no clean frame.
    reasons = _reasons(quarantine)
    as_read = [
        m.encode() if isinstance(m, str) else m for _, m in corpus.mutants
    ]  # replay reads bytes
    assert [frame for _, frame in reasons] == [truncated(m) for m in as_read]
    by_reason = Counter(reason for reason, _ in reasons)
    assert dict(by_reason) == summary["quarantined"]
    assert summary["parse_errors"] == len(corpus.mutants) and reference["parse_errors"] == 0
    by_class: dict[str, Counter[str]] = {}
    for (kind, _), (reason, _) in zip(corpus.mutants, reasons, strict=True):
        by_class.setdefault(kind, Counter())[reason] += 1
    assert set(by_class) == set(corpus.per_class) and len(by_class) == 13
    # The mutants changed no book: the clean frames alone give the same book events.
    for key in ("book_snapshots", "book_updates", "book_gaps", "book_resyncs", "checksum_ok",
                "checksum_failures", "duplicate_trades"):  # fmt: skip
        assert summary[key] == reference[key], key
    assert summary["book_gaps"] == 0 and summary["checksum_failures"] == 0

    # The other implementation (pure Python when this run has C, and the other way round),
    # through the `okx-ingestor replay` command: the same rows, summary and reasons.
    env = dict(os.environ)
    if speedups.IMPLEMENTATION == "c":
        env["OKX_INGESTOR_PURE_PYTHON"] = "1"
    else:
        env.pop("OKX_INGESTOR_PURE_PYTHON", None)
    other_q = tmp_path / "quarantine-other.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "okx_ingestor.cli", "replay", "--input", str(fuzzed),
         "--output", str(tmp_path / "other.jsonl"), "--quarantine", str(other_q),
         "--inst-ids", ",".join(SUBSCRIBED)],
        env=env, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    other = json.loads(done.stdout)
    assert _rows_without_receive_time(tmp_path / "other.jsonl") == rows
    assert other == json.loads(orjson.dumps(summary))
    assert _reasons(other_q) == reasons
    print("\n" + _summary_line("replay", corpus, by_reason, 0, 0, lost))
    print("fuzz[replay]: C and pure Python identical (rows, summary, quarantine reasons)")
    classes = {k: dict(v) for k, v in sorted(by_class.items())}
    print(f"fuzz[replay]: quarantined by class {json.dumps(classes)}")


def _reference(
    frames: list[str | bytes],
) -> tuple[dict[str, list[dict[str, object]]], Counter[str]]:
    """Rows per table (as JSON, receive time left out) and quarantine counts of `frames`."""
    rows: dict[str, list[dict[str, object]]] = {}

    def emit(table: str, row: tuple[object, ...]) -> None:
        spec = TABLES[table.rpartition(".")[2]]
        as_json = row_to_json(spec, row)
        as_json.pop("received_at", None)
        rows.setdefault(table, []).append(as_json)

    p = Pipeline(emit, inst_ids=SUBSCRIBED)
    for f in frames:
        p.process(f)
    return rows, p.quarantine.counts


@pytest.mark.skipif(
    not (SQL.is_dir() and (ENGINE / "migrations.py").exists()),
    reason="needs files/sql and the engine",
)
def test_fuzz_live_websocket_to_chdb_redis_jsonl(
    tmp_path: Path, recording_2022: list[str], redis_server: str
) -> None:
    pytest.importorskip("chdb")
    corpus = build_corpus(recording_2022, LIVE_SIMULATED, seed=17)
    ref_rows, ref_quarantined = _reference(corpus.frames)
    clean_rows, clean_quarantined = _reference(list(corpus.clean))
    assert ref_rows == clean_rows and not clean_quarantined  # the mutants add nothing
    out = tmp_path / "rows.jsonl"
    insts = SUBSCRIBED

    async def scenario() -> tuple[Service, int, bytes]:
        sim = Simulator(insts, rate=0, ws_snapshots=False)  # the corpus brings its snapshots
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": insts,
                "channels": CHANNELS,
                "batch": {"max_rows": 2000, "max_interval_s": 0.2},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "rest": {"base_url": sim.rest_url, "symbols": False},
                "sinks": {
                    "jsonl": {"path": str(out)},
                    "redis": {"url": redis_server, "prefix": "fuzz"},
                    "chdb": {"path": str(tmp_path / "chdb"), "sql_dir": str(SQL),
                             "engine_dir": str(ENGINE), "variables": {"ttl_raw_days": 10000}},
                },
            }
        )  # fmt: skip
        svc = Service(cfg)
        svc.start_metrics()
        task = asyncio.create_task(svc.run())
        loop = asyncio.get_running_loop()
        await _until(loop, lambda: all(c.subscribed.is_set() for c in svc.manager.connections)
                     and bool(svc.manager.connections), "subscribed")  # fmt: skip
        sent = await sim.play(corpus.frames)
        stats = svc.pipeline.stats
        expected_data = sum(1 for f in corpus.clean)
        await _until(loop, lambda: svc.quarantine.total() >= len(corpus.mutants)
                     and stats.data_messages >= expected_data, "every frame read")  # fmt: skip
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics").read()
        svc.stopping.set()
        rc = await task
        await sim.stop()
        assert sent == len(corpus.frames)
        return svc, rc, metrics

    svc, rc, metrics = asyncio.run(scenario())
    sup = svc.supervisor
    crashes, dead = sum(sup.errors.values()), len(sup.failed)
    assert rc == 0 and crashes == 0 and dead == 0, (rc, dict(sup.errors), dict(sup.failed))
    assert svc.quarantine.counts == ref_quarantined
    for reason, n in ref_quarantined.items():
        assert f'okx_quarantined_total{{reason="{reason}"}} {float(n)}'.encode() in metrics

    # JSON lines: every row, per table in order (receive time aside).
    jsonl: dict[str, list[dict[str, object]]] = {}
    for line in out.read_bytes().splitlines():
        item = orjson.loads(line)
        item["row"].pop("received_at", None)
        jsonl.setdefault(item["table"], []).append(item["row"])
    want_jsonl = json.loads(orjson.dumps(ref_rows))
    for table, want in want_jsonl.items():  # a readable failure: the first row that differs
        have = jsonl.get(table, [])
        diff = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b), None)
        assert diff is None and len(have) == len(want), (
            table,
            len(have),
            len(want),
            diff,
            diff is not None and (have[diff], want[diff]),
        )
    assert jsonl == want_jsonl
    # chdb (files/sql): every table's count, and the trades exactly.
    from okx_ingestor.sinks import ChdbSink

    reader = ChdbSink(tmp_path / "chdb")
    try:
        stored = {t: int(reader.query(f"SELECT count() FROM {t}")) for t in ref_rows}
        trades = reader.query(
            "SELECT inst_id, toString(trade_id), toString(price) FROM hft_data.raw_ticks"
        )
    finally:
        reader.close()
    assert stored == {t: len(r) for t, r in ref_rows.items()}
    got = sorted(tuple(x.split("\t")) for x in trades.splitlines() if x.strip())
    want = sorted(
        (r["inst_id"], str(r["trade_id"]), str(r["price"])) for r in ref_rows["hft_data.raw_ticks"]
    )
    assert [(i, t, Decimal(p)) for i, t, p in got] == [(i, t, Decimal(p)) for i, t, p in want]
    # Redis: the newest trade and top of book per instrument.
    r = redis.Redis.from_url(redis_server, decode_responses=True)
    for inst in insts:
        trades_of = [x for x in ref_rows["hft_data.raw_ticks"] if x["inst_id"] == inst]
        if trades_of:
            assert r.hget(f"fuzz:trade:{inst}", "trade_id") == str(trades_of[-1]["trade_id"])
        bbo_of = [x for x in ref_rows["hft_data.bbo"] if x["inst_id"] == inst]
        if bbo_of:
            assert Decimal(r.hget(f"fuzz:bbo:{inst}", "bid_px")) == Decimal(
                str(bbo_of[-1]["bid_px"])
            )
    lost = sum(len(v) for v in ref_rows.values()) - sum(stored.values())
    print("\n" + _summary_line("live", corpus, svc.quarantine.counts, crashes, dead, lost))


async def _until(
    loop: asyncio.AbstractEventLoop, cond: object, what: str, timeout: float = 60.0
) -> None:
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.05)
