"""Every stage is supervised: an error on one frame is contained (quarantined, counted,
the service goes on); a stage that cannot go on (its thread died) stops the service
with a non-zero exit and the queue kept on disk; the systemd watchdog is fed only
while every stage makes progress; each stage's progress is a metric."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from okx_ingestor import service as service_module
from okx_ingestor.batcher import Batch
from okx_ingestor.config import parse_config
from okx_ingestor.service import Service
from okx_ingestor.supervise import Supervisor
from prometheus_client import generate_latest


def make_service(tmp_path: Path) -> Service:
    cfg = parse_config(
        {
            # Nothing listens there: the connection just keeps retrying with backoff.
            "endpoints": {"public": "ws://127.0.0.1:9/ws", "business": "ws://127.0.0.1:9/ws"},
            "instruments": ["BTC-USDT"],
            "channels": ["trades"],
            "spool": {"dir": str(tmp_path / "spool")},
            "sinks": {"jsonl": {"path": str(tmp_path / "rows.jsonl")}},
            "metrics": {"port": 0},
            "rest": {"symbols": False},
            "supervision": {"stall_s": 0.5},
        }
    )
    return Service(cfg)


def test_a_dead_writer_thread_exits_non_zero_keeps_the_queue_and_stops_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notified: list[str] = []
    monkeypatch.setattr(service_module, "sd_notify", notified.append)
    monkeypatch.setattr(service_module, "watchdog_interval_s", lambda: 0.05)
    svc = make_service(tmp_path)

    def broken() -> None:
        raise RuntimeError("a bug in the writer loop")

    async def scenario() -> int:
        task = asyncio.create_task(svc.run())
        for _ in range(200):  # all stages healthy so far (a condition, not a timing)
            if "WATCHDOG=1" in notified:
                break
            await asyncio.sleep(0.05)
        assert "WATCHDOG=1" in notified
        svc.writer._next = broken  # type: ignore[method-assign]
        svc.writer.queue.append(Batch("hft_data.raw_ticks", [(1,)], "", 1))
        svc.writer._wake.set()
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()) == 1
    assert "writer" in svc.supervisor.failed
    assert notified[-1] == "STOPPING=1"
    assert svc.writer.overflow is not None and len(svc.writer.overflow) == 1


def test_a_frame_that_breaks_the_pipeline_is_contained_and_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(tmp_path)

    def boom(frame: object, received_us: object = None) -> None:
        raise AssertionError("a bug on this frame")

    monkeypatch.setattr(svc.pipeline, "process", boom)
    svc._on_frame('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[]}')
    assert svc.supervisor.errors == {"pipeline": 1}
    assert svc.quarantine.counts == {"pipeline:AssertionError": 1}
    text = (tmp_path / "spool" / "quarantine.jsonl").read_text()
    assert "a bug on this frame" in text and "BTC-USDT" in text
    metrics = generate_latest(svc.registry).decode()
    assert 'okx_quarantined_total{reason="pipeline:AssertionError"} 1.0' in metrics
    assert 'okx_stage_errors_total{stage="pipeline"} 1.0' in metrics


def test_watchdog_needs_progress_from_every_stage() -> None:
    sup = Supervisor(stall_s=1.0)
    sup.progress("writer")
    sup.progress("loop")
    assert sup.healthy()
    now = sup.ages()["writer"] + 2.0 + __import__("time").monotonic()
    assert not sup.healthy(now) and sup.stalled(now) == ["loop", "writer"]
    sup.progress("writer")
    sup.progress("loop")
    sup.fail("redis", RuntimeError("x"))
    assert not sup.healthy()


def test_stage_progress_is_a_metric(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.supervisor.progress("writer")
    metrics = generate_latest(svc.registry).decode()
    assert 'okx_stage_last_progress_seconds{stage="writer"}' in metrics
