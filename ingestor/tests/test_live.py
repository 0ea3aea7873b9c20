"""Simulator -> ingestor (real WebSocket on 127.0.0.1) -> JSON lines and a real Redis.

Waits are conditions with generous deadlines, not speed checks.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
import redis
from aio import run, until
from okx_ingestor.books import BookState
from okx_ingestor.config import parse_config
from okx_ingestor.connections import OkxConnection
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator

INSTS = ["BTC-USDT", "ETH-USDT"]


def test_simulator_to_jsonl_and_redis_with_faults(tmp_path: Path, redis_server: str) -> None:
    out = tmp_path / "rows.jsonl"

    async def scenario() -> None:
        sim = Simulator(INSTS, rate=1500)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": INSTS,
                "channels": ["trades", "books", "tickers"],
                "batch": {"max_rows": 200, "max_interval_s": 0.1},
                "spool": {"dir": str(tmp_path / "spool")},
                "connection": {"backoff_base_s": 0.05, "backoff_cap_s": 0.2},
                "metrics": {"port": 0},
                "sinks": {
                    "jsonl": {"path": str(out)},
                    "redis": {"url": redis_server, "prefix": "live"},
                },
            }
        )
        svc = Service(cfg)
        svc.start_metrics()
        task = asyncio.create_task(svc.run())
        stats = svc.pipeline.stats
        await until(lambda: len(sim.trades_sent) >= 30, "trades flowing")

        sim.inject_gap()  # next books update of each instrument skips 5 seqIds
        await until(lambda: svc.pipeline.books.totals().gaps >= 2, "gaps detected")
        await until(
            lambda: all(b.state is BookState.LIVE for b in svc.pipeline.books.books.values()),
            "books resynced",
        )
        sim.inject_reset()
        await until(lambda: svc.pipeline.books.totals().resets >= 2, "resets accepted")
        await sim.send_malformed()
        await until(lambda: stats.parse_errors >= 1, "malformed counted")
        before = sim.connections_total
        await sim.disconnect_all()
        await until(lambda: sim.connections_total > before and sim.clients, "reconnected")
        await until(
            lambda: all(b.state is BookState.LIVE for b in svc.pipeline.books.books.values()),
            "books live again",
        )
        await sim.send_notice()
        await until(lambda: svc.manager.replacements == 1, "64008 replacement opened")
        await until(lambda: len(svc.manager.connections) == 1, "old connection closed")
        n = len(sim.trades_sent)
        await until(lambda: len(sim.trades_sent) >= n + 30, "trades after the hand-over")

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics").read()
        assert b'okx_book_events_total{event="gaps"}' in metrics
        assert b'okx_messages_total{channel="trades",inst_id="BTC-USDT"}' in metrics

        sim.rate = 0  # quiesce, then let the last frames arrive
        await asyncio.sleep(0.3)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()

        rows = [json.loads(line) for line in out.read_text().splitlines()]
        got = [
            (r["row"]["inst_id"], str(r["row"]["trade_id"]))
            for r in rows
            if r["table"] == "hft_data.raw_ticks"
        ]
        assert sorted(got) == sorted(sim.trades_sent)  # nothing lost, nothing doubled
        summary = svc.pipeline.summary()
        assert summary["book_gaps"] >= 2 and summary["book_resets"] >= 2
        assert summary["parse_errors"] == 1
        assert summary["checksum_failures"] == 0

        r = redis.Redis.from_url(redis_server, decode_responses=True)
        for inst in INSTS:
            last_sent = [t for i, t in sim.trades_sent if i == inst][-1]
            assert r.hget(f"live:trade:{inst}", "trade_id") == last_sent
            assert r.hget(f"live:bbo:{inst}", "bid_px")

    run(scenario)


def test_no_pong_triggers_reconnect() -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=0)
        await sim.start()
        sim.no_pong = True
        frames: list[str | bytes] = []
        conn = OkxConnection(
            "t",
            sim.url,
            [{"channel": "trades", "instId": "BTC-USDT"}],
            frames.append,
            ping_after_s=0.2,
            pong_timeout_s=0.2,
        )
        task = asyncio.create_task(conn.run())
        await until(lambda: conn.stats.pong_timeouts >= 1, "pong timeout")
        await until(lambda: conn.stats.connects >= 2, "reconnect")
        sim.no_pong = False
        await until(
            lambda: conn.stats.pings >= conn.stats.pong_timeouts + 1 and "pong" in frames,
            "pong after recovery",
        )
        await until(lambda: conn.stats.acks >= 2, "resubscribed after reconnect")
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    run(scenario)


def test_error_event_counted_per_code() -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=0)
        await sim.start()
        conn = OkxConnection(
            "t", sim.url, [{"channel": "candle1m", "instId": "BTC-USDT"}], lambda f: None
        )
        task = asyncio.create_task(conn.run())
        await until(lambda: conn.stats.errors["60018"] == 1, "60018 counted")
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    run(scenario)


@pytest.mark.parametrize("n", [1])
def test_backoff_is_capped_and_jittered(n: int) -> None:
    from okx_ingestor.connections import Backoff

    b = Backoff(base_s=0.5, cap_s=4.0)
    delays = [b.next_delay() for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays) and len(set(delays)) > 10 * n
    b.reset()
    assert b.next_delay() <= 0.5


def test_books_without_ws_snapshot_use_rest_procedure(tmp_path: Path) -> None:
    """OKX announced the end of the initial WS snapshot: books come live from REST."""
    out = tmp_path / "rows.jsonl"

    async def scenario() -> None:
        sim = Simulator(INSTS, rate=1000, ws_snapshots=False)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "rest": {"base_url": sim.rest_url, "snapshot_after_s": 0.2},
                "instruments": INSTS,
                "channels": ["books", "trades"],
                "batch": {"max_rows": 500, "max_interval_s": 0.1},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "sinks": {"jsonl": {"path": str(out)}},
            }
        )
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        books = svc.pipeline.books

        def all_live() -> bool:
            return len(books.books) == 2 and all(
                b.state is BookState.LIVE for b in books.books.values()
            )

        await until(all_live, "books live from REST snapshots")
        assert svc.pipeline.stats.rest_snapshots["live"] >= 2
        sim.inject_gap()
        await until(lambda: books.totals().gaps >= 2, "gaps detected")
        await until(lambda: all_live() and svc.pipeline.stats.rest_snapshots["live"] >= 4,
                    "books live again from REST")  # fmt: skip
        sim.rate = 0  # quiesce, then our books must equal the simulator's, level by level
        await asyncio.sleep(0.3)
        for inst in INSTS:
            ours = books.get("books", inst)
            want = sim.gen.rest_book(inst)
            bids, asks = ours.top(1000)
            assert [list(b) for b in bids] == [lv[:2] for lv in want["bids"]]  # type: ignore[attr-defined]
            assert [list(a) for a in asks] == [lv[:2] for lv in want["asks"]]  # type: ignore[attr-defined]
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        summary = svc.pipeline.summary()
        assert summary["checksum_failures"] == 0 and summary["parse_errors"] == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        snaps = [r for r in rows if r["table"] == "hft_data.book_l2"
                 and r["row"]["action"] == "snapshot"]  # fmt: skip
        assert len(snaps) >= 4 and all(len(s["row"]["bid_prices"]) > 10 for s in snaps)

    run(scenario)


OUTAGE_S = 30  # the case: ClickHouse unreachable for 30 s


def test_sink_outage_loses_nothing(tmp_path: Path) -> None:
    """The sink is down for OUTAGE_S seconds while the simulator keeps sending: batches
    spool to disk and arrive afterwards, in order, every trade exactly once."""
    from okx_ingestor.batcher import Batch
    from okx_ingestor.sinks import Delivery, SinkUnavailable
    from okx_ingestor.spool import Spool

    class FlakySink:
        name = "flaky"

        def __init__(self) -> None:
            self.up = True
            self.batches: list[Batch] = []

        def write(self, batch: Batch) -> None:
            if not self.up:
                raise SinkUnavailable("outage for the test")
            self.batches.append(batch)

        def close(self) -> None:
            pass

    async def scenario() -> None:
        sim = Simulator(INSTS, rate=1500)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": INSTS,
                "channels": ["trades", "books"],
                "batch": {"max_rows": 100, "max_interval_s": 0.05, "queue_batches": 4},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "sinks": {"jsonl": {"path": str(tmp_path / "unused.jsonl")}},
            }
        )
        svc = Service(cfg)
        sink = FlakySink()
        delivery = Delivery(sink, Spool(tmp_path / "spool" / "flaky"))
        svc.writer.deliveries = [delivery]
        task = asyncio.create_task(svc.run())
        await until(lambda: len(sink.batches) >= 5, "batches delivered")
        sink.up = False
        await until(lambda: delivery.spool is not None and len(delivery.spool) >= 20,
                    "batches spooled during the outage")  # fmt: skip
        await asyncio.sleep(OUTAGE_S)
        assert delivery.spool is not None
        spooled = delivery.spool.stats.appended_batches
        assert spooled >= OUTAGE_S * 10  # batches flush every 50 ms
        sink.up = True
        await until(lambda: delivery.spool is not None and delivery.spool.empty(), "spool drained")
        sim.rate = 0
        await asyncio.sleep(0.3)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        assert delivery.spool is not None and delivery.spool.stats.shed_rows == 0
        trades = [(r[0], str(r[1])) for b in sink.batches if b.table.endswith("raw_ticks")
                  for r in b.rows]  # fmt: skip
        assert sorted(trades) == sorted(sim.trades_sent)
        created = [b.created_us for b in sink.batches if b.table.endswith("raw_ticks")]
        assert created == sorted(created)  # replayed in order
        tokens = [b.token for b in sink.batches]
        assert len(tokens) == len(set(tokens))

    run(scenario)
