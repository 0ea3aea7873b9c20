"""Login and the l2-tbt channels over real WebSockets on 127.0.0.1, against the simulator
(which verifies the signature and answers like OKX: 60011, 600xx login errors, 64003,
64004, 60018), and the signature against an independent HMAC implementation (openssl)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import urllib.request
from pathlib import Path

import orjson
import pytest
from aio import run, until
from okx_ingestor.books import BookState
from okx_ingestor.config import parse_config
from okx_ingestor.connections import Backoff, OkxConnection
from okx_ingestor.login import Credentials, login_request, sign
from okx_ingestor.service import Service
from okx_ingestor.simulator import Simulator
from websockets.asyncio.client import connect

CREDS = Credentials("key-1", "secret-1", "pass-1")
L2 = [{"channel": "books-l2-tbt", "instId": "BTC-USDT"}]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_sign_is_okx_hmac_sha256_base64() -> None:
    """sign = Base64(HMAC-SHA256(secret, timestamp + 'GET' + '/users/self/verify'))."""
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", "secret-1", "-binary"],
        input=b"1538054050GET/users/self/verify",
        capture_output=True,
        check=True,
    ).stdout
    assert sign("secret-1", "1538054050") == base64.b64encode(digest).decode()
    req = orjson.loads(login_request(CREDS, now_s=1538054050.7))
    assert req == {
        "op": "login",
        "args": [{"apiKey": "key-1", "passphrase": "pass-1", "timestamp": "1538054050",
                  "sign": sign("secret-1", "1538054050")}],
    }  # fmt: skip


def test_login_before_subscribe_and_again_after_a_reconnect() -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=300, credentials=CREDS)
        await sim.start()
        frames: list[str | bytes] = []
        conn = OkxConnection(
            "l2", sim.url, L2, frames.append, credentials=CREDS, backoff=Backoff(0.05, 0.1)
        )
        task = asyncio.create_task(conn.run())
        await until(conn.subscribed.is_set, "subscribed after login")
        await until(lambda: any('"books-l2-tbt"' in str(f) and "update" in str(f)
                                for f in frames), "l2-tbt pushes")  # fmt: skip
        assert conn.stats.logins == 1 and sim.login_requests == 1
        assert conn.ops.remaining() == 480 - 2  # the login and the subscribe
        await sim.disconnect_all()
        await until(lambda: conn.stats.connects == 2 and conn.subscribed.is_set(), "again")
        assert conn.stats.logins == 2 and sim.login_requests == 2
        assert conn.ops.remaining() == 480 - 2  # a fresh connection, a fresh budget
        assert not conn.stats.errors and conn.failed is None
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    run(scenario)


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (Credentials("key-1", "wrong-secret", "pass-1"), "60007"),
        (Credentials("key-1", "secret-1", "wrong-pass"), "60024"),
        (Credentials("key-2", "secret-1", "pass-1"), "60005"),
    ],
)
def test_login_error_stops_that_connection_without_a_reconnect_storm(
    creds: Credentials, code: str
) -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=0, credentials=CREDS)
        await sim.start()
        conn = OkxConnection(
            "l2", sim.url, L2, lambda f: None, credentials=creds, backoff=Backoff(0.01, 0.02)
        )
        task = asyncio.create_task(conn.run())
        await until(lambda: conn.failed == code, f"stopped on {code}")
        await asyncio.sleep(1.0)  # with a 10-20 ms backoff, a storm would be ~50 connects
        assert conn.stats.connects == 1 and sim.login_requests == 1
        assert sim.subscribe_requests == 1  # the login only: nothing subscribed
        assert not task.done()  # waits for stop(): a refused channel is not a crash
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    run(scenario)


def test_low_fee_tier_64003_stops_that_connection() -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT"], rate=0, credentials=CREDS, fee_tier_ok=False)
        await sim.start()
        conn = OkxConnection(
            "l2", sim.url, L2, lambda f: None, credentials=CREDS, backoff=Backoff(0.01, 0.02)
        )
        task = asyncio.create_task(conn.run())
        await until(lambda: conn.failed == "64003", "stopped on 64003")
        await asyncio.sleep(0.5)
        assert conn.stats.connects == 1 and conn.stats.errors["64003"] == 1
        conn.stop()
        await asyncio.wait_for(task, 5)
        await sim.stop()

    run(scenario)


def test_simulator_answers_like_okx() -> None:
    """The server side of the rules the planner and check-config keep."""

    async def scenario() -> None:
        sim = Simulator(["BTC-USDT", "BTC-USDT-SWAP"], rate=0, credentials=CREDS)
        await sim.start()

        async def ask(ws, op: str, *args: dict[str, str]) -> dict[str, object]:  # noqa: ANN001
            await ws.send(orjson.dumps({"op": op, "args": list(args)}).decode())
            while True:
                reply = orjson.loads(await ws.recv())
                if "event" in reply:  # skip the books snapshot after an ack
                    return reply

        def arg(channel: str, inst: str = "BTC-USDT") -> dict[str, str]:
            return {"channel": channel, "instId": inst}

        async with connect(sim.url) as ws:
            assert (await ask(ws, "subscribe", arg("books-l2-tbt")))["code"] == "60011"
            assert (await ask(ws, "subscribe", arg("funding-rate")))["code"] == "60018"
            assert (await ask(ws, "subscribe", arg("funding-rate", "BTC-USDT-SWAP")))[
                "event"
            ] == "subscribe"
            assert (await ask(ws, "subscribe", arg("mark-price", "BTC-USDT-SWAP")))[
                "event"
            ] == "subscribe"
            await ws.send(login_request(CREDS))
            assert orjson.loads(await ws.recv())["event"] == "login"
            assert (await ask(ws, "subscribe", arg("books")))["event"] == "subscribe"
            assert (await ask(ws, "subscribe", arg("books-l2-tbt")))["code"] == "64004"
            assert (await ask(ws, "subscribe", arg("books50-l2-tbt")))["event"] == "subscribe"
            assert (await ask(ws, "subscribe", arg("books-l2-tbt")))["code"] == "64004"
        async with connect(sim.url) as ws:
            stale = orjson.loads(login_request(CREDS, now_s=1_000_000_000))
            assert (await ask(ws, "login", *stale["args"]))["code"] == "60006"
        await sim.stop()

    run(scenario)


def service_config(tmp_path: Path, sim: Simulator) -> dict[str, object]:
    return {
        "endpoints": {"public": sim.url, "business": sim.url},
        "rest": {"base_url": sim.rest_url, "symbols": False},
        "instruments": ["BTC-USDT", "ETH-USDT"],
        "channels": ["books", "books-l2-tbt", "trades"],
        "l2_tbt": True,
        "login": {"api_key": "key-1", "secret_key": "secret-1", "passphrase": "pass-1"},
        "spool": {"dir": str(tmp_path / "spool")},
        "connection": {"backoff_base_s": 0.05, "backoff_cap_s": 0.2},
        "metrics": {"port": 0},
        "sinks": {"jsonl": {"path": str(tmp_path / "rows.jsonl")}},
    }


def metrics_of(svc: Service) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics").read().decode()


def test_service_plans_books_and_books_l2_tbt_apart_and_logs_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT", "ETH-USDT"], rate=600, credentials=CREDS)
        await sim.start()
        svc = Service(parse_config(service_config(tmp_path, sim)))
        svc.start_metrics()
        task = asyncio.create_task(svc.run())
        by_stream = svc.pipeline.stats.by_stream
        streams = [(c, i) for c in ("books", "books-l2-tbt") for i in ("BTC-USDT", "ETH-USDT")]
        await until(lambda: all(by_stream.get(s, 0) > 5 for s in streams), "both book channels")
        books = svc.pipeline.books.books.values()
        await until(lambda: all(b.state is BookState.LIVE for b in books), "books live")
        assert [c.name for c in svc.manager.connections] == ["public-0", "public-1-books-l2-tbt"]
        assert svc.pipeline.stats.error_codes == {}  # no 60011, no 64004
        text = metrics_of(svc)
        assert "okx_ws_logins_total 1.0" in text
        assert "okx_connection_refused{" not in text
        svc.stopping.set()
        assert await task == 0
        await sim.stop()

    run(scenario)


def test_service_with_a_low_fee_tier_keeps_the_other_channels(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = Simulator(["BTC-USDT", "ETH-USDT"], rate=600, credentials=CREDS, fee_tier_ok=False)
        await sim.start()
        svc = Service(parse_config(service_config(tmp_path, sim)))
        svc.start_metrics()
        task = asyncio.create_task(svc.run())
        await until(lambda: len(svc.manager.connections) == 2, "connections planned")
        l2 = svc.manager.connections[1]
        await until(lambda: l2.failed == "64003", "l2-tbt refused")
        n = len(sim.trades_sent)
        await until(lambda: len(sim.trades_sent) > n + 20, "trades go on")
        await asyncio.sleep(0.5)
        assert l2.stats.connects == 1  # no reconnect storm
        text = metrics_of(svc)
        assert 'okx_connection_refused{code="64003",conn="public-1-books-l2-tbt"} 1.0' in text
        assert not task.done()
        svc.stopping.set()
        assert await task == 0
        await sim.stop()

    run(scenario)
