"""A local OKX v5 public WebSocket simulator (127.0.0.1), with fault injection.

Speaks the documented protocol: text `ping` -> `pong`; `{"op":"subscribe","args":[..]}`
-> one `{"event":"subscribe","arg":..,"connId":..}` per arg (and a books snapshot for
book channels); unknown channels -> `{"event":"error","code":"60018",..}`. Pushes
generated books updates (seqId/prevSeqId chain, checksum 0), trades and tickers at
`rate` messages per second, shared by all connections like OKX's per-instrument seqIds.

Faults (methods, or `--fault KIND@SECONDS` on the command line): disconnect, gap,
reset, cross (a bid above the best ask), malformed, no_pong, notice (64008).

Login and the l2-tbt channels (`credentials`, `fee_tier_ok`): `{"op":"login"}` is
verified like OKX (login.verify: 60004/60005/60006/60007/60024, else `event: login`);
books-l2-tbt / books50-l2-tbt need a login (60011), an account of the fee tier (64003
when `fee_tier_ok` is False) and no conflicting book channel of the same instId on the
connection (64004); they carry the generated books pushes. A channel that cannot exist
for the instId's instType (config.CHANNEL_INST_TYPES) is answered 60018, as OKX does;
funding-rate and mark-price are acknowledged where they exist (no pushes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .config import channel_problem
from .login import Credentials, verify
from .planner import CONFLICTS, LOGIN_CHANNELS
from .rest import inst_type_of
from .scopes import ARG_KEYS, scope_values, subscribe_args
from .synth import MarketGenerator

log = logging.getLogger("okx_ingestor.simulator")
SUPPORTED = frozenset({"books", "trades", "tickers"})
HISTORY_KEEP = 5000  # trades per instrument served by /api/v5/market/history-trades
ACK_ONLY = frozenset({"funding-rate", "mark-price"})  # acknowledged, nothing pushed
LOGIN_ERRORS = {
    "60004": "Invalid timestamp",
    "60005": "Invalid apiKey",
    "60006": "Timestamp request expired",
    "60007": "Invalid sign",
    "60024": "Wrong passphrase",
}
FAULTS = ("disconnect", "gap", "reset", "cross", "malformed", "no_pong", "notice")


# Issue 13 channels: acknowledged, then pushed once in the documented shape (OKX pushes
# the current value on subscribe); every push sent is kept in Simulator.documented_sent.
DOCUMENTED = frozenset({"open-interest", "price-limit", "estimated-price",
                        "liquidation-orders", "opt-summary", "instruments", "status"})  # fmt: skip


def documented_items(channel: str, arg: dict[str, str], insts: list[str], ts: str) -> list[object]:
    """The data items of one push of an issue 13 channel (docs' shapes, values made up)."""
    inst = arg.get("instId", "")
    kind = inst_type_of(inst)[0] if inst else ""
    if channel == "open-interest":
        return [{"instId": inst, "instType": kind, "oi": "1000.5", "oiCcy": "10.005",
                 "oiUsd": "500000.25", "ts": ts}]  # fmt: skip
    if channel == "price-limit":
        return [{"instId": inst, "instType": kind, "buyLmt": "105.1", "sellLmt": "95.2",
                 "ts": ts, "enabled": True}]  # fmt: skip
    if channel == "estimated-price":
        return [{"instId": inst, "instType": kind, "settlePx": "100.75",
                 "settleType": "settlement", "ts": ts}]  # fmt: skip
    value = arg.get(ARG_KEYS.get(channel) or "channel", "")
    mine = [i for i in insts if channel == "status" or scope_values(channel, [i]) == [value]]
    if channel == "liquidation-orders":
        return [{"instId": i, "instType": value, "instFamily": "", "uly": "",
                 "details": [{"bkLoss": "0", "bkPx": "99.5", "ccy": "", "posSide": "long",
                              "side": "sell", "sz": "3", "ts": ts}]} for i in mine]  # fmt: skip
    if channel == "opt-summary":
        return [{"instType": "OPTION", "instId": i, "uly": value, "delta": "-0.25",
                 "gamma": "0.5", "vega": "0.01", "theta": "-0.02", "markVol": "0.4",
                 "realVol": "", "fwdPx": "100.5", "ts": ts} for i in mine]  # fmt: skip
    if channel == "instruments":
        return [instrument_entry(i, value) for i in mine]
    return [{"begin": ts, "end": str(int(ts) + 3_600_000), "href": "", "preOpenBegin": "",
             "scheDesc": "", "serviceType": "0", "state": "scheduled", "system": "unified",
             "maintType": "1", "env": "1", "title": "Simulated maintenance", "ts": ts}]  # fmt: skip


def _wall_ms() -> int:
    """Milliseconds since the epoch: OKX's `ts` unit."""
    return time.time_ns() // 1_000_000


def instrument_entry(inst_id: str, inst_type: str) -> dict[str, str]:
    """One /api/v5/public/instruments entry as OKX documents it (values made up)."""
    parts = inst_id.split("-")
    base, quote = parts[0], parts[1]
    derivative = inst_type != "SPOT"
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "" if derivative else base,
        "category": "1",
        "ctMult": "1" if derivative else "",
        "ctType": "linear" if derivative and quote != "USD" else ("inverse" if derivative else ""),
        "ctVal": ("0.01" if quote != "USD" else "100") if derivative else "",
        "ctValCcy": (base if quote != "USD" else "USD") if derivative else "",
        "expTime": "1743148800000" if inst_type in ("FUTURES", "OPTION") else "",
        "instFamily": f"{base}-{quote}" if derivative else "",
        "instId": inst_id,
        "instIdCode": str(sum(map(ord, inst_id)) * 1000 + len(inst_id)),
        "instType": inst_type,
        "lever": "10",
        "listTime": "1606468572000",
        "lotSz": "0.00000001" if not derivative else "1",
        "maxIcebergSz": "9999999999.0000000000000000",
        "maxLmtAmt": "1000000",
        "maxLmtSz": "9999999999",
        "maxMktAmt": "1000000",
        "maxMktSz": "",
        "maxStopSz": "",
        "maxTriggerSz": "9999999999.0000000000000000",
        "maxTwapSz": "9999999999.0000000000000000",
        "minSz": "0.00001" if not derivative else "1",
        "optType": parts[4] if inst_type == "OPTION" else "",
        "quoteCcy": "" if derivative else quote,
        "ruleType": "normal",
        "settleCcy": ("USDT" if quote != "USD" else base) if derivative else "",
        "state": "live",
        "stk": parts[3] if inst_type == "OPTION" else "",
        "tickSz": "0.1",
        "uly": f"{base}-{quote}" if derivative else "",
    }


@dataclass
class _Client:
    ws: ServerConnection
    conn_id: str
    subs: set[tuple[str, str]] = field(default_factory=set)
    logged_in: bool = False


class Simulator:
    def __init__(
        self,
        inst_ids: list[str],
        *,
        rate: float = 1000.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        depth: int = 50,
        ws_snapshots: bool = True,
        rest_port: int = 0,
        trade_history: bool = False,
        credentials: Credentials | None = None,
        fee_tier_ok: bool = True,
    ) -> None:
        # trade_history: trades go on while nobody listens (as on OKX) and are served by
        # GET /api/v5/market/history-trades; trades_made lists every one of them.
        self.trade_history = trade_history
        self.credentials = credentials  # the one API key logins are checked against
        self.fee_tier_ok = fee_tier_ok  # False: 64003 for the l2-tbt channels
        self.login_requests = 0
        self.history: dict[str, list[dict[str, object]]] = {}
        self.trades_made: list[tuple[str, str]] = []
        self.ws_snapshots = ws_snapshots  # False: like OKX after the snapshot removal
        self.rest_port = rest_port
        self.rest_requests = 0
        self.instruments_served = 0
        self._rest: asyncio.Server | None = None
        self.gen = MarketGenerator(inst_ids, seed=seed, depth=depth, clock_ms=_wall_ms)
        self.inst_ids = set(inst_ids)
        self.rate = rate
        self.host = host
        self.port = port
        self.clients: dict[str, _Client] = {}
        self.no_pong = False
        self.sent_messages = 0
        self.connections_total = 0
        self.subscribe_requests = 0
        self.trades_sent: list[tuple[str, str]] = []
        self.tickers_sent: list[tuple[str, str, str]] = []  # (instId, ts, last) delivered
        self.documented_sent: list[dict[str, object]] = []  # issue 13 pushes delivered
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/public"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self.port, compression=None)
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        self._rest = await asyncio.start_server(self._rest_handle, self.host, self.rest_port)
        self.rest_port = self._rest.sockets[0].getsockname()[1]
        self._producer = asyncio.create_task(self._produce())

    async def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._rest is not None:
            self._rest.close()
            await self._rest.wait_closed()

    async def _rest_handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """GET /api/v5/market/books?instId=X (the current book with its seqId) and
        GET /api/v5/public/instruments?instType=T[&instFamily=F]."""
        try:
            request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            target = request.split(" ", 2)[1]
            self.rest_requests += 1
            body = orjson.dumps(self._rest_answer(target))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, IndexError, ConnectionError):
            pass
        finally:
            writer.close()

    def _rest_answer(self, target: str) -> dict[str, object]:
        path, _, query = target.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        if path == "/api/v5/market/books":
            inst = params.get("instId", "")
            if inst not in self.inst_ids:
                return {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
            return {"code": "0", "msg": "", "data": [self.gen.rest_book(inst)]}
        if path == "/api/v5/public/instruments":
            return self._instruments(params)
        if path == "/api/v5/market/history-trades" and self.trade_history:
            return self._history_trades(params)
        return {"code": "50030", "msg": f"No permission to use this API: {path}", "data": []}

    def _history_trades(self, params: dict[str, str]) -> dict[str, object]:
        """OKX's trade history: newest first, `after` = older than that tradeId."""
        trades = self.history.get(params.get("instId", ""), [])
        limit = min(int(params.get("limit", "100")), 100)
        after = params.get("after")
        older = [t for t in trades if after is None or int(str(t["tradeId"])) < int(after)]
        return {"code": "0", "msg": "", "data": older[::-1][:limit]}

    def _instruments(self, params: dict[str, str]) -> dict[str, object]:
        """OKX's documented shape; OPTION needs instFamily (error 51000 like OKX)."""
        inst_type = params.get("instType", "")
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            return {"code": "51000", "msg": "Parameter instType error", "data": []}
        family = params.get("instFamily")
        if inst_type == "OPTION" and not family:
            return {"code": "51000", "msg": "Parameter instFamily error", "data": []}
        data = []
        for inst in sorted(self.inst_ids):
            kind, fam = inst_type_of(inst)
            if kind == inst_type and (family is None or fam == family):
                data.append(instrument_entry(inst, kind))
        self.instruments_served += len(data)
        return {"code": "0", "msg": "", "data": data}

    # -- faults --------------------------------------------------------------------
    async def disconnect_all(self) -> None:
        for client in list(self.clients.values()):
            await client.ws.close(code=4000, reason="simulated disconnect")

    def inject_gap(self, inst_id: str | None = None) -> None:
        for inst in [inst_id] if inst_id else sorted(self.inst_ids):
            self.gen.inject_gap(inst)

    def inject_reset(self, inst_id: str | None = None) -> None:
        for inst in [inst_id] if inst_id else sorted(self.inst_ids):
            self.gen.inject_reset(inst)

    def inject_cross(self, inst_id: str | None = None) -> None:
        for inst in [inst_id] if inst_id else sorted(self.inst_ids):
            self.gen.inject_cross(inst)

    async def send_malformed(self) -> None:
        await self._broadcast_raw('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{')

    async def send_notice(self) -> None:
        for client in list(self.clients.values()):
            msg = {
                "event": "notice",
                "code": "64008",
                "connId": client.conn_id,
                "msg": "The connection will soon be closed for a service upgrade. "
                "Please reconnect.",
            }
            with contextlib.suppress(ConnectionClosed):
                await client.ws.send(orjson.dumps(msg).decode())

    async def play(self, frames: Iterable[str | bytes], pause_every: int = 200) -> int:
        """Send scripted frames as they are (str: text frame, bytes: binary frame) to every
        connected client, in order; returns how many were sent to at least one client.

        For the fuzz tests: real and mutated frames through the live WebSocket path. The
        generated stream (`rate`) should be 0 meanwhile, or its pushes interleave."""
        sent = 0
        for n, frame in enumerate(frames, 1):
            delivered = False
            for client in list(self.clients.values()):
                with contextlib.suppress(ConnectionClosed):
                    await client.ws.send(frame)
                    delivered = True
            sent += delivered
            if n % pause_every == 0:
                await asyncio.sleep(0)  # let the client read (same event loop in tests)
        return sent

    async def fault(self, kind: str) -> None:
        if kind == "disconnect":
            await self.disconnect_all()
        elif kind == "gap":
            self.inject_gap()
        elif kind == "reset":
            self.inject_reset()
        elif kind == "cross":
            self.inject_cross()
        elif kind == "malformed":
            await self.send_malformed()
        elif kind == "no_pong":
            self.no_pong = not self.no_pong
        elif kind == "notice":
            await self.send_notice()
        else:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULTS)}")

    # -- protocol ------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws, f"{next(self._ids):08x}")
        self.clients[client.conn_id] = client
        self.connections_total += 1
        try:
            async for frame in ws:
                await self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(client.conn_id, None)

    async def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        if frame == "ping":
            if not self.no_pong:
                await client.ws.send("pong")
            return
        try:
            req = orjson.loads(frame)
            op, args = req["op"], req.get("args", [])
        except (ValueError, KeyError, TypeError):
            await self._send(
                client,
                {"event": "error", "code": "60012", "msg": f"Invalid request: {str(frame)[:100]}"},
            )
            return
        self.subscribe_requests += 1
        if op == "login":
            await self._login(client, args)
            return
        for arg in args:
            await self._on_arg(client, op, arg, req.get("id"))

    async def _login(self, client: _Client, args: list[dict[str, object]]) -> None:
        self.login_requests += 1
        code = "60009"  # no credentials configured, or not one arg: Login failed.
        if self.credentials is not None and len(args) == 1 and isinstance(args[0], dict):
            code = verify(self.credentials, args[0])
        if code == "0":
            client.logged_in = True
            await self._send(client, {"event": "login", "code": "0", "msg": "",
                                      "connId": client.conn_id})  # fmt: skip
            return
        msg = LOGIN_ERRORS.get(code, "Login failed.")
        await self._send(client, {"event": "error", "code": code, "msg": msg,
                                  "connId": client.conn_id})  # fmt: skip

    def _refusal(self, client: _Client, op: str, channel: str, inst: str) -> tuple[str, str] | None:
        """(code, msg) OKX answers a subscribe with, beyond an unknown channel/instId."""
        problem = channel_problem(channel, inst)
        if problem is not None:
            return "60018", f"Wrong URL or channel:{channel},instId:{inst} doesn't exist."
        if op != "subscribe" or channel not in LOGIN_CHANNELS:
            return None
        if not client.logged_in:
            return "60011", "Please log in"
        if not self.fee_tier_ok:
            return "64003", "Your trading fee tier doesn't meet the requirement to access " \
                "this channel"  # fmt: skip
        for other, other_inst in client.subs:
            if other_inst == inst and frozenset({channel, other}) in CONFLICTS:
                return "64004", f"Subscribing to {channel} and {other} for {inst} on one " \
                    "connection is not allowed"  # fmt: skip
        return None

    async def _on_arg(self, client: _Client, op: str, arg: dict[str, str], req_id: object) -> None:
        channel, inst = arg.get("channel", ""), arg.get("instId", "")
        if channel in DOCUMENTED and arg in subscribe_args(channel, sorted(self.inst_ids)):
            await self._on_documented(client, op, arg, req_id)
            return
        known = SUPPORTED | ACK_ONLY | LOGIN_CHANNELS
        refusal = self._refusal(client, op, channel, inst) if channel in known else None
        if refusal is not None:
            code, msg = refusal
            await self._send(client, {"id": req_id, "event": "error", "code": code, "msg": msg,
                                      "connId": client.conn_id})  # fmt: skip
            return
        if channel not in known or inst not in self.inst_ids:
            await self._send(
                client,
                {
                    "id": req_id,
                    "event": "error",
                    "code": "60018",
                    "msg": f"Wrong URL or channel:{channel},instId:{inst} doesn't exist.",
                },
            )
            return
        ack: dict[str, object] = {"event": op, "arg": arg, "connId": client.conn_id}
        if req_id is not None:
            ack["id"] = req_id
        if op == "subscribe":
            await self._send(client, ack)
            if channel == "books" and self.ws_snapshots:
                await self._send_raw(client, self.gen.snapshot(inst))
            elif channel in LOGIN_CHANNELS:  # OKX: always a snapshot first
                await self._send_raw(client, _relabel(self.gen.snapshot(inst), channel))
            client.subs.add((channel, inst))  # data only after the ack (and snapshot)
        elif op == "unsubscribe":
            client.subs.discard((channel, inst))
            await self._send(client, ack)

    async def _on_documented(
        self, client: _Client, op: str, arg: dict[str, str], req_id: object
    ) -> None:
        ack: dict[str, object] = {"event": op, "arg": arg, "connId": client.conn_id}
        if req_id is not None:
            ack["id"] = req_id
        await self._send(client, ack)
        if op == "subscribe":
            channel = arg["channel"]
            data = documented_items(channel, arg, sorted(self.inst_ids), str(_wall_ms()))
            push = {"arg": arg, "data": data}
            if await self._send_raw(client, orjson.dumps(push).decode()):
                self.documented_sent.append(push)

    async def _send(self, client: _Client, obj: dict[str, object]) -> None:
        await self._send_raw(client, orjson.dumps(obj).decode())

    async def _send_raw(self, client: _Client, text: str) -> bool:
        try:
            await client.ws.send(text)
        except ConnectionClosed:
            return False
        return True

    async def _broadcast_raw(self, text: str) -> None:
        for client in list(self.clients.values()):
            await self._send_raw(client, text)

    # -- data ----------------------------------------------------------------------
    async def _produce(self) -> None:
        tick = 0.01
        budget = 0.0
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            budget = min(budget + (now - last) * self.rate, self.rate)  # at most 1 s burst
            last = now
            while budget >= 1:
                budget -= 1
                await self._produce_one()

    async def _push_l2(self, inst_id: str, text: str) -> None:
        """A books push to the l2-tbt subscribers of the instrument, relabelled."""
        for channel in LOGIN_CHANNELS:
            for client in [c for c in self.clients.values() if (channel, inst_id) in c.subs]:
                if await self._send_raw(client, _relabel(text, channel)):
                    self.sent_messages += 1

    def _remember(self, inst_id: str, text: str) -> None:
        """A trade made, for the REST history (the last HISTORY_KEEP per instrument)."""
        history = self.history.setdefault(inst_id, [])
        history.append(orjson.loads(text)["data"][0])
        if len(history) > 2 * HISTORY_KEEP:
            del history[:-HISTORY_KEEP]
        self.trades_made.append(self.gen.trades_sent[-1])

    async def make_trades(self, n: int) -> None:
        """`n` trades now (instruments in turn), sent to the clients subscribed, if any:
        for tests of trades made while nobody listens (needs trade_history)."""
        gen = self.gen
        for i in range(n):
            inst = gen.insts[i % len(gen.insts)]
            text = gen.trade(inst)
            self._remember(inst.inst_id, text)
            targets = [c for c in self.clients.values() if ("trades", inst.inst_id) in c.subs]
            delivered = [await self._send_raw(c, text) for c in targets]
            if any(delivered):
                self.trades_sent.append(gen.trades_sent[-1])

    async def _produce_one(self) -> None:
        gen = self.gen
        inst = gen.rng.choice(gen.insts)
        kind = gen.rng.choice(gen._kinds)
        targets = [c for c in self.clients.values() if (kind, inst.inst_id) in c.subs]
        if kind == "books":
            text = gen.book_update(inst)  # the chain advances even with nobody listening
            await self._push_l2(inst.inst_id, text)
        elif kind == "trades" and (targets or self.trade_history):
            text = gen.trade(inst)
            if self.trade_history:
                self._remember(inst.inst_id, text)
        elif not targets:
            return
        else:
            text = gen.ticker(inst)
        delivered = False
        for client in targets:
            if await self._send_raw(client, text):
                delivered = True
                self.sent_messages += 1
        if delivered and kind == "trades":
            self.trades_sent.append(gen.trades_sent[-1])
        elif delivered and kind == "tickers":
            data = orjson.loads(text)["data"][0]
            self.tickers_sent.append((data["instId"], data["ts"], data["last"]))


def _relabel(text: str, channel: str) -> str:
    """A generated books push as `channel` (the same book, seqIds and all)."""
    return text.replace('"channel":"books"', f'"channel":"{channel}"', 1)


async def run_simulator(
    inst_ids: list[str],
    rate: float,
    port: int,
    faults: list[tuple[str, float]],
    ws_snapshots: bool = True,
    rest_port: int = 0,
    trade_history: bool = True,
) -> None:
    """Serve until cancelled; apply each (fault, period_s) every period."""
    sim = Simulator(inst_ids, rate=rate, port=port, ws_snapshots=ws_snapshots,
                    rest_port=rest_port, trade_history=trade_history)  # fmt: skip
    await sim.start()
    log.info("simulator listening", extra={"url": sim.url})
    print(
        orjson.dumps(
            {"url": sim.url, "rest_url": sim.rest_url, "instruments": inst_ids, "rate": rate}
        ).decode(),
        flush=True,
    )

    async def every(kind: str, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            await sim.fault(kind)

    tasks = [asyncio.create_task(every(k, p)) for k, p in faults]
    try:
        await asyncio.Event().wait()
    finally:
        for t in tasks:
            t.cancel()
        await sim.stop()
