"""A frame the reader did not expect (binary, an event with an odd shape, a handler that
raises) is contained: reported with the frame, and the next frames are read on the same
connection (no silent death of the reader, no reconnect needed)."""

from __future__ import annotations

import asyncio

from okx_ingestor.connections import OkxConnection
from websockets.asyncio.server import ServerConnection, serve

TRADE = (
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"1","px":"1.5","sz":"2","side":"buy","ts":"1700000000000"}]}'
)


def test_binary_frames_and_odd_events_do_not_stop_the_reader() -> None:
    async def scenario() -> None:
        async def handler(ws: ServerConnection) -> None:
            await ws.recv()  # the subscribe request
            await ws.send(b'\x00\x01{"event" binary')
            await ws.send('{"event":"subscribe","arg":"x"}')
            await ws.send('["event"]')
            await ws.send('{"event":"boom"}')  # the frame handler raises on this one
            await ws.send(TRADE)
            await asyncio.sleep(2)

        frames: list[str | bytes] = []
        errors: list[tuple[str, object]] = []

        def on_frame(frame: str | bytes) -> None:
            if frame == '{"event":"boom"}':
                raise RuntimeError("a bug in the frame handler")
            frames.append(frame)

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            conn = OkxConnection(
                "t", f"ws://127.0.0.1:{port}", [{"channel": "trades", "instId": "BTC-USDT"}],
                on_frame, on_error=lambda name, exc, frame: errors.append((type(exc).__name__,
                                                                           frame)),
            )  # fmt: skip
            task = asyncio.create_task(conn.run())
            for _ in range(200):
                if TRADE in frames:
                    break
                await asyncio.sleep(0.02)
            conn.stop()
            await asyncio.wait_for(task, 5)
        assert TRADE in frames
        assert frames[0] == b'\x00\x01{"event" binary'
        assert errors == [("RuntimeError", '{"event":"boom"}')]
        assert conn.stats.connects == 1 and conn.stats.reconnects == 0

    asyncio.run(scenario())
