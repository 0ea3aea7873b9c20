"""Issue 13 item 6: each resync spends two subscription requests and OKX allows 480 per
connection per hour, so after 240 resyncs new ones waited up to an hour. The connection
tracks its budget; when it runs low a resync reconnects instead (fresh connection, fresh
budget, every book resubscribed with a new snapshot), at once, with no backoff."""

from __future__ import annotations

import asyncio

from okx_ingestor.connections import OkxConnection, RateLimiter
from okx_ingestor.simulator import Simulator

ARG = {"channel": "books", "instId": "BTC-USDT"}


def test_budget_counts_the_window_and_resets() -> None:
    budget = RateLimiter(3, 3600.0)

    async def spend() -> None:
        for _ in range(2):
            await budget.acquire()

    asyncio.run(spend())
    assert budget.remaining() == 1
    budget.reset()
    assert budget.remaining() == 3


def test_a_low_budget_resyncs_by_reconnecting_not_by_waiting_an_hour() -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=200)
        await sim.start()
        frames: list[str | bytes] = []
        # 10 requests an hour (OKX: 480) and a reserve of 4: the subscribe takes 1, two
        # resyncs take 4 (5 left), the third finds fewer than 4 + 2 left and reconnects.
        conn = OkxConnection("t", sim.url, [ARG], frames.append, ops_per_hour=10,
                             resync_reserve_ops=4)  # fmt: skip
        task = asyncio.create_task(conn.run())

        def snapshots() -> int:
            return sum(1 for f in frames if isinstance(f, str) and '"snapshot"' in f)

        await _until(lambda: snapshots() == 1, "subscribed, first snapshot")
        for n in (2, 3):
            conn.resync("books", "BTC-USDT")
            await _until(lambda n=n: snapshots() == n, f"resync {n - 1} by resubscribing")
        assert conn.ops.remaining() == 5 and conn.stats.connects == 1
        conn.resync("books", "BTC-USDT")
        await _until(lambda: snapshots() == 4, "resync by reconnect")
        await _until(lambda: conn.subscribed.is_set(), "resubscribed")
        assert conn.stats.budget_reconnects == 1 and conn.stats.connects == 2
        assert conn.stats.reconnects == 0  # our own close, not a lost connection
        assert conn.ops.remaining() == 9  # the new connection's budget, minus its subscribe
        assert sim.subscribe_requests == 1 + 2 * 2 + 1
        # the budget is fresh: the next resync resubscribes again
        conn.resync("books", "BTC-USDT")
        await _until(lambda: snapshots() == 5, "resync on the new connection")
        assert conn.stats.connects == 2 and conn.ops.remaining() == 7
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    asyncio.run(scenario())


async def _until(cond: object, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)
