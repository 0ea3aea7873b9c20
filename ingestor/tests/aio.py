"""asyncio helpers the live tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(cond: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Wait until cond() is true; AssertionError naming `what` after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())
