"""Redis latest state is written per message (coalesced per loop iteration), against a
real redis-server; a Redis outage keeps only the newest row per key and never blocks."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from aio import until
from okx_ingestor.config import parse_config
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator
from okx_ingestor.sinks import RedisLatestSink, RedisLatestWriter


def trade(trade_id: int, inst: str = "BTC-USDT") -> tuple[object, ...]:
    return (inst, trade_id, 1_700_000_000_000 + trade_id, "42000.5", "0.1", "buy", 1, 0,
            trade_id, 1_700_000_000_000_000 + trade_id)  # fmt: skip


def test_one_pipeline_per_loop_iteration_with_the_newest_row(redis_server: str) -> None:
    writer = RedisLatestWriter(RedisLatestSink(redis_server, prefix="coalesce"))

    async def scenario() -> None:
        writer.attach(asyncio.get_running_loop())
        writer.start()
        for i in range(1, 1001):  # one loop iteration: 1000 trades of one instrument
            writer.mark("raw_ticks", trade(i))
        writer.mark("raw_ticks", trade(7, "ETH-USDT"))
        await until(lambda: writer.writes >= 1, "first pipeline sent")
        await asyncio.sleep(0.2)

    asyncio.run(scenario())
    assert writer.stop(5)
    assert (writer.writes, writer.keys_written, writer.errors) == (1, 2, 0)
    r = redis.Redis.from_url(redis_server, decode_responses=True)
    assert r.hget("coalesce:trade:BTC-USDT", "trade_id") == "1000"
    assert r.hget("coalesce:trade:ETH-USDT", "trade_id") == "7"


def test_redis_is_updated_before_any_batch_flush(tmp_path: Path, redis_server: str) -> None:
    """Batches never flush here (huge max_rows, 60 s interval): Redis must still follow."""
    insts = ["BTC-USDT", "ETH-USDT"]
    r = redis.Redis.from_url(redis_server, decode_responses=True)

    def caught_up(sim: Simulator) -> bool:
        for inst in insts:
            sent = [t for i, t in sim.trades_sent if i == inst]
            if not sent or r.hget(f"permsg:trade:{inst}", "trade_id") != sent[-1]:
                return False
        return True

    async def scenario() -> None:
        sim = Simulator(insts, rate=300)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": insts,
                "channels": ["trades", "books"],
                "batch": {"max_rows": 10_000_000, "max_interval_s": 60},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "sinks": {
                    "jsonl": {"path": str(tmp_path / "rows.jsonl")},
                    "redis": {"url": redis_server, "prefix": "permsg"},
                },
            }
        )
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        await until(lambda: len(sim.trades_sent) >= 20, "trades flowing")
        sim.rate = 0
        await until(lambda: caught_up(sim), "Redis holds the last trade sent")
        assert sum(svc.batcher.batches_out.values()) == 0  # nothing came from a batch
        assert r.hget("permsg:bbo:BTC-USDT", "bid_px")
        assert svc.latest is not None and svc.latest.errors == 0
        svc.stopping.set()
        assert await task == 0
        await sim.stop()

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_keeps_newest_rows_counts_errors_then_catches_up(tmp_path: Path) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    writer = RedisLatestWriter(RedisLatestSink(url, prefix="down"))
    writer.start()
    t0 = time.monotonic()
    for i in range(1, 5001):  # no loop attached: each mark hands off at once
        writer.mark("raw_ticks", trade(i))
        writer.mark("raw_ticks", trade(i, "ETH-USDT"))
    assert time.monotonic() - t0 < 5  # generous: marking never waits for Redis
    deadline = time.monotonic() + 10
    while writer.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.errors >= 1 and not writer.up
    assert writer.pending() <= 2  # only the newest row per key waits
    binary = shutil.which("redis-server")
    assert binary, "redis-server missing: run ingestor/scripts/ensure-test-deps.sh"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        r = redis.Redis(port=port, decode_responses=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if r.hget("down:trade:ETH-USDT", "trade_id") == "5000":
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.1)
        assert r.hget("down:trade:BTC-USDT", "trade_id") == "5000"
        assert r.hget("down:trade:ETH-USDT", "trade_id") == "5000"
        assert writer.up
    finally:
        writer.stop(5)
        proc.terminate()
        proc.wait(timeout=10)


def test_malformed_row_is_counted_and_the_writer_lives_on(redis_server: str) -> None:
    writer = RedisLatestWriter(RedisLatestSink(redis_server, prefix="malformed"))
    writer.start()
    writer.mark("raw_ticks", ("BTC-USDT", 1))  # too short for raw_ticks
    deadline = time.monotonic() + 10
    while writer.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.mark("raw_ticks", trade(5))
    while writer.writes == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.errors == 1 and writer.writes == 1 and writer.is_alive()
    assert writer.stop(5)


class _RecordingSink(RedisLatestSink):
    """The real row -> hash mapping, without a server: writes are recorded."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0", prefix="t")
        self.written: list[dict[str, dict[str, str]]] = []

    def write_latest(self, latest: dict[str, dict[str, str]]) -> None:
        self.written.append(latest)


def test_a_row_with_a_huge_timestamp_is_quarantined_and_the_thread_lives_on() -> None:
    """format_ms raised OSError/OverflowError on such a row, which ended the thread: Redis
    was never written again. Now that row is set aside and the others are written."""
    from okx_ingestor.supervise import Supervisor

    sup = Supervisor()
    sink = _RecordingSink()
    writer = RedisLatestWriter(sink, supervisor=sup)
    writer.start()
    bad = ("ETH-USDT", 9, 2**62, "1", "1", "buy", 1, 0, 0, 1_700_000_000_000_000)
    writer.mark("raw_ticks", bad)
    writer.mark("raw_ticks", trade(5))
    deadline = time.monotonic() + 10
    while not sink.written and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.mark("raw_ticks", trade(6))
    while len(sink.written) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.is_alive() and not sup.failed
    assert [list(w) for w in sink.written] == [["t:trade:BTC-USDT"], ["t:trade:BTC-USDT"]]
    assert sink.written[1]["t:trade:BTC-USDT"]["trade_id"] == "6"
    assert sup.quarantine.counts == {"redis_unwritable_row": 1}
    assert writer.stop(5)
