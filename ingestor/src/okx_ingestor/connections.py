"""OKX WebSocket connections: keepalive, paced subscriptions, 64008 hand-over, backoff.

- Keepalive (OKX `connect` doc): after `ping_after_s` (< 30) of silence send text
  `ping`; without `pong` within `pong_timeout_s`, reconnect.
- Subscriptions: args split into requests of at most `max_args_per_request` and 64 KB,
  at most `ops_per_hour` subscribe/unsubscribe requests per connection (OKX: 480);
  new connections are opened at most `connects_per_s` per second (OKX: 3 per IP).
- `event: error` is counted per code and logged once per code with what to do.
- 64008 notice: a replacement connection is opened and subscribed; the old one is
  closed only when the replacement has all its acks (no data hole).
- Reconnect with capped exponential backoff and full jitter; resubscribe everything.
- Login (connections with credentials: the l2-tbt channels, planner.py): the login op
  (one of the 480 ops) before any subscribe, on every (re)connect. An answer retrying
  cannot fix (login.FATAL: bad credentials, clock, 64003 fee tier) stops the connection
  for good: logged once, `failed` holds the code (metric okx_connection_refused), and
  it does not reconnect (no storm); the rest of the service goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .login import CHANNEL_FATAL, LOGIN_FATAL, Credentials, login_request
from .planner import plan_connections

log = logging.getLogger("okx_ingestor.connections")

FrameHandler = Callable[[str | bytes], None]
# (connection name, exception, the frame it happened on): an error contained per frame.
ErrorHandler = Callable[[str, BaseException, object], None]
# (task, stage, one_off): supervise a task (the service: supervise.Supervisor.watch).
# A one-off task's error is contained; any other task's error fails the service.
TaskWatcher = Callable[["asyncio.Task[None]", str, bool], None]


def _log_error(conn: str, exc: BaseException, frame: object) -> None:
    log.error("error on a frame; the connection goes on", exc_info=exc,
              extra={"conn": conn, "frame": repr(frame)[:500]})  # fmt: skip


def _is_event(frame: str | bytes) -> bool:
    """A control event (subscribe ack, error, notice)? Text or binary frames alike."""
    if isinstance(frame, bytes | bytearray):
        return b'"event"' in frame[:80]
    return '"event"' in frame[:80]


ERROR_HINTS = {
    "60012": "invalid request: check the channel args in the config",
    "60014": "requests too frequent: subscription pacing slowed down",
    "60018": "channel or instId does not exist on this URL: check instruments/channels",
    "64001": "this channel moved: use the /business URL (e.g. trades-all)",
    "64003": "fee tier too low for this channel: use `books` instead of *-l2-tbt",
    "64004": "books-l2-tbt conflicts with another book channel on one connection",
    "63999": "login failed on OKX's side (internal error): retrying",
    **LOGIN_FATAL,
    **CHANNEL_FATAL,
    "64008": "service upgrade notice: opening a replacement connection",
}


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class RateLimiter:
    """At most `limit` events per `period_s` (sliding window); `await acquire()`.

    Also the subscription budget of a connection (OKX: 480 subscribe/unsubscribe/login
    requests per connection per hour): `remaining()` tells how many are left now, and
    `reset()` starts a fresh budget for a fresh connection."""

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self._events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0] >= self.period_s:
            self._events.popleft()

    def remaining(self) -> int:
        self._expire(time.monotonic())
        return self.limit - len(self._events)

    def reset(self) -> None:
        self._events.clear()

    async def acquire(self) -> None:
        while True:
            now = time.monotonic()
            self._expire(now)
            if len(self._events) < self.limit:
                self._events.append(now)
                return
            await asyncio.sleep(self.period_s - (now - self._events[0]) + 0.001)


@dataclass
class ConnStats:
    connects: int = 0
    reconnects: int = 0
    pings: int = 0
    pong_timeouts: int = 0
    notices: int = 0
    replacements: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    frames: int = 0
    resyncs: int = 0  # books resynchronised by unsubscribe + subscribe (2 ops each)
    budget_reconnects: int = 0  # resyncs done by a reconnect: the budget was low
    logins: int = 0  # login requests sent (each one op of the hourly budget)
    login_timeouts: int = 0  # no answer to a login within login_timeout_s: reconnected


def subscribe_requests(
    args: list[dict[str, str]], op: str = "subscribe", max_args: int = 100, max_bytes: int = 60_000
) -> list[str]:
    """Split args into `{"op":..,"args":[..]}` texts within OKX's 64 KB request limit."""
    out: list[str] = []
    chunk: list[dict[str, str]] = []
    size = 0
    for arg in args:
        arg_size = len(orjson.dumps(arg)) + 1
        if chunk and (len(chunk) >= max_args or size + arg_size > max_bytes):
            out.append(orjson.dumps({"op": op, "args": chunk}).decode())
            chunk, size = [], 0
        chunk.append(arg)
        size += arg_size
    if chunk:
        out.append(orjson.dumps({"op": op, "args": chunk}).decode())
    return out


class OkxConnection:
    """One logical subscription set on one URL; reconnects until `stop()`."""

    def __init__(
        self,
        name: str,
        url: str,
        args: list[dict[str, str]],
        on_frame: FrameHandler,
        *,
        connect_limiter: RateLimiter | None = None,
        ping_after_s: float = 20.0,
        pong_timeout_s: float = 5.0,
        ops_per_hour: int = 480,
        resync_reserve_ops: int = 4,
        max_args_per_request: int = 100,
        backoff: Backoff | None = None,
        on_notice: Callable[[OkxConnection], None] | None = None,
        on_error: ErrorHandler | None = None,
        watch: TaskWatcher | None = None,
        on_subscribed: Callable[[OkxConnection], None] | None = None,
        on_closed: Callable[[OkxConnection], None] | None = None,
        credentials: Credentials | None = None,
        login_timeout_s: float = 10.0,
    ) -> None:
        if not 0 < ping_after_s < 30:
            raise ValueError("ping_after_s must be between 0 and 30 (OKX closes after 30 s)")
        self.name = name
        self.url = url
        self.args = list(args)
        self.on_frame = on_frame
        self.connect_limiter = connect_limiter or RateLimiter(3, 1.0)
        self.ping_after_s = ping_after_s
        self.pong_timeout_s = pong_timeout_s
        # OKX's 480 subscribe/unsubscribe requests per connection per hour. A resync
        # spends two; below `resync_reserve_ops` + 2 left, resync() reconnects instead
        # (a fresh connection has a fresh budget, and resubscribing gives every book on
        # it a new snapshot) rather than wait up to an hour for the window to move.
        self.ops = RateLimiter(ops_per_hour, 3600.0)
        self.resync_reserve_ops = resync_reserve_ops
        self._budget_reconnect = False
        self.max_args = max_args_per_request
        self.backoff = backoff or Backoff()
        self.on_notice = on_notice
        self.on_error = on_error or _log_error
        self.watch = watch
        self.on_subscribed = on_subscribed  # every session, once every arg is acked
        self.on_closed = on_closed  # every session's end, its last frame handled
        self.stats = ConnStats()
        self.subscribed = asyncio.Event()  # set when every arg was acknowledged
        self._stop = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._pong = asyncio.Event()
        self._acked: set[tuple[str, str]] = set()
        self._logged_codes: set[str] = set()
        self._pending_resync: list[dict[str, str]] = []
        self.credentials = credentials  # None: a connection without login
        self.login_timeout_s = login_timeout_s
        self._logged_in = asyncio.Event()
        self.failed: str | None = None  # the OKX code that stopped it for good

    # -- control -------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())

    def resync(self, channel: str, inst_id: str) -> None:
        """A fresh WS snapshot for one book: unsubscribe + subscribe (two ops of the
        connection's budget), or, when the budget runs low, a reconnect."""
        ws = self._ws
        if self._budget_reconnect:
            return  # the reconnect under way resubscribes everything
        if ws is not None and self.ops.remaining() < self.resync_reserve_ops + 2:
            self._reconnect_for_budget(ws)
            return
        arg = {"channel": channel, "instId": inst_id}
        if arg not in self._pending_resync:
            self._pending_resync.append(arg)
            self.stats.resyncs += 1
        if self._ws is not None:
            task = asyncio.get_running_loop().create_task(self._flush_resyncs(self._ws))
            if self.watch is not None:
                self.watch(task, f"resync:{self.name}", True)

    def _reconnect_for_budget(self, ws: ClientConnection) -> None:
        """Close and reconnect at once (no backoff): fresh budget, every arg
        resubscribed, every book on this connection gets a new snapshot."""
        self._budget_reconnect = True
        self._pending_resync = []
        self.stats.budget_reconnects += 1
        log.warning(
            "subscription budget low; resynchronising by reconnect",
            extra={"conn": self.name, "ops_left": self.ops.remaining(),
                   "ops_per_hour": self.ops.limit},
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(
            ws.close(code=1000, reason="resync by reconnect")
        )
        if self.watch is not None:
            self.watch(task, f"budget-reconnect:{self.name}", True)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.connect_limiter.acquire()
                async with connect(
                    self.url,
                    ping_interval=None,
                    max_size=2**24,
                    open_timeout=10,
                    close_timeout=2,
                    compression="deflate",
                ) as ws:
                    self._ws = ws
                    self.stats.connects += 1
                    self.ops.reset()  # OKX counts the budget per connection
                    await self._session(ws)
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.warning("connection lost", extra={"conn": self.name, "error": repr(exc)})
            except Exception as exc:  # a bug, or a library error not listed: reconnect
                self.on_error(self.name, exc, "connection session")
            finally:
                self._ws = None
                self.subscribed.clear()
                if self.on_closed is not None:
                    try:
                        self.on_closed(self)
                    except Exception as exc:  # a bug there must not end the connection
                        self.on_error(self.name, exc, "on_closed")
            if self._stop.is_set():
                break
            if self.failed is not None:  # retrying cannot help: wait for stop()
                await self._stop.wait()
                break
            if self._budget_reconnect:  # our own close: reconnect now, not a failure
                self._budget_reconnect = False  # (once: a failing connect backs off)
                continue
            self.stats.reconnects += 1
            delay = self.backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    # -- session -------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        self._acked.clear()
        self._pending_resync = []  # subscribing everything gives every book a snapshot
        self._logged_in.clear()
        sub = asyncio.create_task(self._start(ws))
        try:
            await self._read(ws)
        finally:
            sub.cancel()

    async def _start(self, ws: ClientConnection) -> None:
        """Log in first (connections with credentials), then subscribe everything."""
        if self.credentials is not None and not await self._login(ws):
            return
        await self._subscribe(ws, self.args, "subscribe")

    async def _login(self, ws: ClientConnection) -> bool:
        """Send the login op (one of the budget's ops) and wait for OKX's answer."""
        assert self.credentials is not None
        await self.ops.acquire()
        self.stats.logins += 1
        await ws.send(login_request(self.credentials))
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout=self.login_timeout_s)
        except TimeoutError:
            if self.failed is None:  # no answer at all: reconnect (with backoff)
                self.stats.login_timeouts += 1
                log.warning("no answer to login; reconnecting", extra={
                    "conn": self.name, "timeout_s": self.login_timeout_s})  # fmt: skip
                await ws.close(code=1000, reason="login timeout")
            return False
        return self.failed is None

    def _fail(self, code: str) -> None:
        """Stop for good: an answer no retry can change (bad credentials, fee tier)."""
        if self.failed is not None:
            return
        self.failed = code
        channels = sorted({a["channel"] for a in self.args})
        log.error(
            "OKX refused this connection's channels; not retrying",
            extra={"conn": self.name, "code": code, "channels": channels,
                   "hint": ERROR_HINTS.get(code, "")},
        )  # fmt: skip
        self._logged_in.set()  # wakes _login, which sees `failed`
        ws = self._ws
        if ws is not None:
            task = asyncio.get_running_loop().create_task(
                ws.close(code=1000, reason=f"refused {code}")
            )
            if self.watch is not None:
                self.watch(task, f"refused:{self.name}", True)

    async def _subscribe(self, ws: ClientConnection, args: list[dict[str, str]], op: str) -> None:
        for text in subscribe_requests(args, op, self.max_args):
            await self.ops.acquire()
            await ws.send(text)

    async def _flush_resyncs(self, ws: ClientConnection) -> None:
        args, self._pending_resync = self._pending_resync, []
        if args:
            with contextlib.suppress(ConnectionClosed):
                await self._subscribe(ws, args, "unsubscribe")
                await self._subscribe(ws, args, "subscribe")

    async def _read(self, ws: ClientConnection) -> None:
        # Runs until the socket closes, also after stop(): stop() closes the socket, and
        # the frames OKX sent before our close frame are still processed (no data hole).
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=self.ping_after_s)
            except TimeoutError:
                if self._stop.is_set() or not await self._ping(ws):
                    return
                continue
            self.stats.frames += 1
            self._handle(frame)

    def _handle(self, frame: str | bytes) -> None:
        """One received frame (text or binary). An error on it is contained: reported
        with the frame (`on_error`: logged, counted, quarantined) and the next is read."""
        try:
            if frame == "pong" or frame == b"pong":
                self._pong.set()
            elif _is_event(frame):
                self._on_event(frame)
            self.on_frame(frame)
        except Exception as exc:
            self.on_error(self.name, exc, frame)

    async def _ping(self, ws: ClientConnection) -> bool:
        self._pong.clear()
        self.stats.pings += 1
        await ws.send("ping")
        try:
            while not self._pong.is_set():
                frame = await asyncio.wait_for(ws.recv(), timeout=self.pong_timeout_s)
                self.stats.frames += 1
                if frame == "pong" or frame == b"pong":
                    self._pong.set()
                else:
                    self._handle(frame)
        except TimeoutError:
            self.stats.pong_timeouts += 1
            log.warning("no pong; reconnecting", extra={"conn": self.name})
            await ws.close(code=1000, reason="no pong")
            return False
        self.on_frame("pong")
        return True

    def _on_event(self, frame: str | bytes) -> None:
        try:
            ev = orjson.loads(frame)
        except ValueError:
            return
        if not isinstance(ev, dict):
            return  # the pipeline counts and quarantines it
        event, code = ev.get("event"), ev.get("code")
        if event == "subscribe":
            arg = ev.get("arg")
            if not isinstance(arg, dict):
                return  # e.g. {"event":"subscribe","arg":"x"}: not an ack of ours
            # the arg's instId, or instType / instFamily (scopes.py), or "" (status)
            scope = arg.get("instId") or arg.get("instFamily") or arg.get("instType") or ""
            self._acked.add((str(arg.get("channel", "")), str(scope)))
            self.stats.acks += 1
            if len(self._acked) >= len(self.args) and not self.subscribed.is_set():
                self.subscribed.set()
                self.backoff.reset()
                if self.on_subscribed is not None:
                    self.on_subscribed(self)
        elif event == "login" and str(code) == "0":
            self._logged_in.set()
        elif event == "notice" and str(code) == "64008":
            self.stats.notices += 1
            log.warning(ERROR_HINTS["64008"], extra={"conn": self.name})
            if self.on_notice is not None:
                self.on_notice(self)
        elif event == "error":
            code = str(code)
            self.stats.errors[code] += 1
            if code not in self._logged_codes:
                self._logged_codes.add(code)
                hint = ERROR_HINTS.get(code, "see OKX's WebSocket error code list")
                log.error(
                    "OKX error event",
                    extra={"conn": self.name, "code": code, "okx_msg": ev.get("msg"), "hint": hint},
                )
            if self.credentials is not None and (
                code in CHANNEL_FATAL or (code in LOGIN_FATAL and not self._logged_in.is_set())
            ):
                self._fail(code)


class ConnectionManager:
    """Spreads subscriptions over connections and handles 64008 hand-overs."""

    def __init__(
        self,
        on_frame: FrameHandler,
        *,
        max_args_per_connection: int = 30,
        connects_per_s: int = 3,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        on_error: ErrorHandler | None = None,
        watch: TaskWatcher | None = None,
        **conn_kwargs: object,
    ) -> None:
        self.on_error = on_error
        self.watch = watch
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.on_frame = on_frame
        self.max_args = max_args_per_connection
        self.limiter = RateLimiter(connects_per_s, 1.0)
        self.conn_kwargs = conn_kwargs
        self.connections: list[OkxConnection] = []
        self._tasks: dict[OkxConnection, asyncio.Task[None]] = {}
        self._by_book: dict[tuple[str, str], OkxConnection] = {}
        self.replacements = 0

    def plan(
        self, url: str, args: list[dict[str, str]], credentials: Credentials | None = None
    ) -> None:
        """Connections for `args` on `url` (planner.plan_connections: at most
        max_args each, the l2-tbt channels on logged-in connections of their own)."""
        for planned in plan_connections({url: args}, self.max_args):
            if planned.login and credentials is None:
                raise ValueError("l2-tbt channels need credentials (config: login)")
            name = f"{url.rsplit('/', 1)[-1]}-{len(self.connections)}"
            if planned.login:
                name += f"-{planned.args[0]['channel']}"
            self._add(
                OkxConnection(
                    name,
                    url,
                    planned.args,
                    self.on_frame,
                    connect_limiter=self.limiter,
                    on_notice=self._replace,
                    backoff=Backoff(self.backoff_base_s, self.backoff_cap_s),
                    on_error=self.on_error,
                    watch=self.watch,
                    credentials=credentials if planned.login else None,
                    **self.conn_kwargs,  # type: ignore[arg-type]
                )
            )

    def _add(self, conn: OkxConnection) -> None:
        self.connections.append(conn)
        for arg in conn.args:
            self._by_book[(arg["channel"], arg.get("instId", ""))] = conn

    def start(self) -> None:
        for conn in self.connections:
            if conn not in self._tasks:
                self._run(conn)

    def _run(self, conn: OkxConnection) -> None:
        """The connection's task, supervised: it reconnects by itself, so it ending
        with an error (or at all, before stop()) is a failure of the service."""

        async def run_until_stopped() -> None:
            await conn.run()
            if not conn._stop.is_set():
                raise RuntimeError(f"connection {conn.name} stopped reading before stop()")

        task = asyncio.create_task(run_until_stopped())
        self._tasks[conn] = task
        if self.watch is not None:
            self.watch(task, f"connection:{conn.name}", False)

    def resync(self, channel: str, inst_id: str) -> None:
        conn = self._by_book.get((channel, inst_id))
        if conn is not None:
            conn.resync(channel, inst_id)

    def _replace(self, old: OkxConnection) -> None:
        new = OkxConnection(
            f"{old.name}r",
            old.url,
            old.args,
            self.on_frame,
            connect_limiter=self.limiter,
            on_notice=self._replace,
            backoff=Backoff(self.backoff_base_s, self.backoff_cap_s),
            on_error=self.on_error,
            watch=self.watch,
            credentials=old.credentials,
            **self.conn_kwargs,
        )  # type: ignore[arg-type]
        self._add(new)
        self._run(new)
        self.replacements += 1

        async def hand_over() -> None:
            try:
                await asyncio.wait_for(new.subscribed.wait(), timeout=55)
            except TimeoutError:
                log.warning("replacement not subscribed in 55 s", extra={"conn": new.name})
            old.stop()
            self.connections.remove(old)
            self._tasks.pop(old, None)

        task = asyncio.get_running_loop().create_task(hand_over())
        if self.watch is not None:
            self.watch(task, f"hand-over:{old.name}", True)

    async def stop(self) -> None:
        for conn in self.connections:
            conn.stop()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=5)
