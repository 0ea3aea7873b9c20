"""Book integrity without OKX's checksum (fixed to 0 since June 2026): a crossed or
locked top of book is found by the integrity pass, counted, and the book resynchronised;
each live book's age (staleness) is reported. On every path (decode, Python, C) and
live through the simulator."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from okx_ingestor.books import BookState
from okx_ingestor.config import parse_config
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator
from test_pipeline_fast import MODES, pipeline_mode

TS = 1_700_000_000_000


def books(action: str, seq: int, prev: int, bids: list[list[str]], asks: list[list[str]],
          ts: int = TS) -> str:  # fmt: skip
    data = {"asks": asks, "bids": bids, "ts": str(ts), "checksum": 0, "seqId": seq,
            "prevSeqId": prev}  # fmt: skip
    return json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action,
                       "data": [data]})  # fmt: skip


SNAPSHOT = books("snapshot", 10, -1, [["100", "2", "0", "1"], ["99", "1", "0", "1"]],
                 [["101", "1", "0", "1"], ["102", "3", "0", "1"]])  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("bid", "kind"), [("101.5", "crossed"), ("101.0", "locked"), ("100.5", None)]
)
def test_a_crossed_or_locked_book_is_counted_and_resynchronised(
    bid: str, kind: str | None, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resyncs: list[tuple[str, str]] = []
    with pipeline_mode(mode, monkeypatch):
        p = Pipeline(lambda t, r: None, on_resync=lambda c, i: resyncs.append((c, i)))
        p.process(SNAPSHOT)
        assert p.check_books(TS + 2500) == {("books", "BTC-USDT"): 2.5}
        p.process(books("update", 11, 10, [[bid, "1", "0", "1"]], [], ts=TS + 1000))
        ages = p.check_books(TS + 3000)
    book = p.books.get("books", "BTC-USDT")
    s = p.summary()
    if kind is None:  # a new best bid inside the spread: fine
        assert ages == {("books", "BTC-USDT"): 2.0} and book.state is BookState.LIVE
        assert not resyncs and s["book_crossed"] == s["book_locked"] == 0
        return
    assert ages == {} and book.state is BookState.BUFFERING and book.depth() == (0, 0)
    assert resyncs == [("books", "BTC-USDT")]
    assert s["book_" + kind] == 1 and s["book_resyncs"] == 1
    with pipeline_mode(mode, monkeypatch):  # the resync's snapshot: live and sane again
        p.process(SNAPSHOT.replace('"seqId": 10', '"seqId": 20'))
        p.process(books("update", 21, 20, [["100.5", "1", "0", "1"]], []))
        assert p.check_books(TS) == {("books", "BTC-USDT"): 0.0}
    assert book.state is BookState.LIVE and len(resyncs) == 1


def test_live_a_crossed_book_is_resynchronised_and_alerted(tmp_path: Path) -> None:
    """The simulator sends a books update with a bid above the best ask (its checksum 0,
    its seqId chaining: nothing else catches it); the service finds it within a second,
    resubscribes, and the book is live and uncrossed again; metrics show it."""

    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=300)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": ["BTC-USDT"],
                "channels": ["books", "trades"],
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "rest": {"base_url": sim.rest_url, "symbols": False},
                "sinks": {"jsonl": {"path": str(tmp_path / "rows.jsonl")}},
            }
        )
        svc = Service(cfg)
        svc.start_metrics()
        task = asyncio.create_task(svc.run())
        book = svc.pipeline.books.get("books", "BTC-USDT")
        await _until(lambda: book.state is BookState.LIVE and book.counters.updates > 5, "live")
        sim.inject_cross()
        await _until(lambda: book.counters.crossed == 1, "crossed book found")
        await _until(lambda: book.state is BookState.LIVE and book.counters.snapshots >= 2,
                     "resynchronised")  # fmt: skip
        await asyncio.sleep(1.5)  # a few integrity passes on the new book
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics").read()
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        assert book.check_top() is None and book.counters.crossed == 1
        assert b'okx_book_crossed_total{kind="crossed"} 1.0' in metrics
        assert b'okx_book_age_seconds{channel="books",inst_id="BTC-USDT"}' in metrics
        # the resync resubscribed (2 of the connection's 480 requests, 1 for the subscribe)
        assert b'okx_resync_budget_remaining{conn="public-0"} 477.0' in metrics
        assert b"okx_resync_reconnects_total 0.0" in metrics

    asyncio.run(scenario())


async def _until(cond: object, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)
