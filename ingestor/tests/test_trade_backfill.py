"""Issue 13 item 9, the reconnect half: trades made while a connection is down are
fetched from OKX's REST trade history (paginated by tradeId, newest first) once it is
subscribed again, and stored once (the pipeline's tradeId dedup drops what it has).
Tested against the simulator, which serves /api/v5/market/history-trades."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from okx_ingestor.config import parse_config
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator

INSTS = ["BTC-USDT", "ETH-USDT"]


def test_trades_of_a_reconnect_hole_are_backfilled_once(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"

    async def scenario() -> tuple[Service, Simulator]:
        sim = Simulator(INSTS, rate=400, trade_history=True)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": INSTS,
                "channels": ["trades", "books"],
                "batch": {"max_rows": 500, "max_interval_s": 0.1},
                "spool": {"dir": str(tmp_path / "spool")},
                "connection": {"backoff_base_s": 0.3, "backoff_cap_s": 0.3},
                "metrics": {"port": 0},
                "rest": {"base_url": sim.rest_url, "symbols": False},
                "sinks": {"jsonl": {"path": str(out)}},
            }
        )
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        await _until(lambda: len(sim.trades_sent) >= 30, "trades flowing")
        sim.rate = 0
        await sim.disconnect_all()
        await _until(lambda: not sim.clients, "disconnected")
        await sim.make_trades(250)  # nobody listens: 125 per instrument, > 1 REST page
        sim.rate = 400
        await _until(lambda: svc.backfilled_trades >= 250, "backfilled")
        n = len(sim.trades_made)
        await _until(lambda: len(sim.trades_made) >= n + 30, "trades after the reconnect")
        sim.rate = 0
        await asyncio.sleep(0.5)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        return svc, sim

    svc, sim = asyncio.run(scenario())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = [(r["row"]["inst_id"], str(r["row"]["trade_id"])) for r in rows
           if r["table"] == "hft_data.raw_ticks"]  # fmt: skip
    assert len(got) == len(set(got))  # nothing twice
    # nothing lost from the first trade received on (before it: before the subscription)
    first = {i: min(int(t) for j, t in got if j == i) for i in INSTS}
    made = [(i, t) for i, t in sim.trades_made if int(t) >= first[i]]
    assert sorted(got) == sorted(made) and len(made) >= 30 + 250 + 30
    assert svc.backfilled_trades >= 250 and svc.rest_errors == 0
    assert svc.manager.connections[0].stats.connects == 2


async def _until(cond: object, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def test_trade_history_answers_and_config() -> None:
    import pytest
    from okx_ingestor.config import ConfigError
    from okx_ingestor.rest import RestError, parse_trades_page

    page = b'{"code":"0","msg":"","data":[{"instId":"BTC-USDT","tradeId":"7","px":"1"}]}'
    assert parse_trades_page(page)[0]["tradeId"] == "7"
    for bad in (b'{"code":"50011","msg":"Too Many Requests"}', b'{"code":"0","data":{}}', b"<"):
        with pytest.raises(RestError):
            parse_trades_page(bad)
    base = {"instruments": INSTS, "sinks": {"jsonl": {"path": "/dev/null"}}}
    assert parse_config({**base, "rest": {"backfill_trades": False}}).backfill_trades is False
    assert parse_config(base).backfill_trades is True
    with pytest.raises(ConfigError, match=r"rest\.backfill_trades"):
        parse_config({**base, "rest": {"backfill_trades": "yes"}})


def test_kill_9_loses_no_trade_after_the_restart(tmp_path: Path) -> None:
    """`okx-ingestor run` as a process, SIGKILLed mid-stream (its open batch is lost, and
    the simulator keeps trading while it is down), then started again: every trade from
    the first one stored onwards is stored - the restart backfills from the trade mark
    (trade-marks.json, raised only after a batch is delivered)."""
    import os
    import signal
    import sys

    out = tmp_path / "rows.jsonl"

    def stored() -> list[tuple[str, str]]:
        if not out.exists():
            return []
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        return [(r["row"]["inst_id"], str(r["row"]["trade_id"])) for r in rows
                if r["table"] == "hft_data.raw_ticks"]  # fmt: skip

    async def scenario() -> tuple[Simulator, list[int]]:
        sim = Simulator(INSTS, rate=300, trade_history=True)
        await sim.start()
        cfg = tmp_path / "config.yml"
        cfg.write_text(
            f"instruments: [{', '.join(INSTS)}]\n"
            f"endpoints: {{public: '{sim.url}', business: '{sim.url}'}}\n"
            "channels: [trades, books]\n"
            "batch: {max_rows: 100000, max_interval_s: 0.5}\n"
            f"spool: {{dir: '{tmp_path / 'spool'}'}}\n"
            "metrics: {port: 0}\n"
            f"rest: {{base_url: '{sim.rest_url}', symbols: false}}\n"
            f"sinks: {{jsonl: {{path: '{out}'}}}}\n"
        )
        argv = [sys.executable, "-m", "okx_ingestor.cli", "run", "--config", str(cfg)]

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.DEVNULL)

        proc = await start()
        await _until(lambda: len(stored()) >= 40, "trades stored", timeout=30)
        await asyncio.sleep(0.3)  # an open batch in the process's hands
        os.kill(proc.pid, signal.SIGKILL)
        codes = [await proc.wait()]
        await sim.make_trades(150)  # while nobody listens
        proc = await start()
        total = len(sim.trades_made)
        await _until(lambda: len({t for t in stored()}) >= total, "the hole backfilled", 30)
        n = len(sim.trades_made)
        await _until(lambda: len(sim.trades_made) >= n + 20, "trades after the restart")
        sim.rate = 0
        await asyncio.sleep(1.5)  # the last batch (max_interval_s) reaches the file
        proc.send_signal(signal.SIGTERM)
        codes.append(await proc.wait())
        await sim.stop()
        return sim, codes

    sim, codes = asyncio.run(scenario())
    assert codes == [-signal.SIGKILL, 0]
    got = stored()
    first = {i: min(int(t) for j, t in got if j == i) for i in INSTS}
    made = {(i, t) for i, t in sim.trades_made if int(t) >= first[i]}
    lost = made - set(got)
    assert not lost, f"{len(lost)} trades lost across kill -9"
    print(f"\nkill -9: {len(made)} trades made, 0 lost, {len(got) - len(set(got))} stored twice")
