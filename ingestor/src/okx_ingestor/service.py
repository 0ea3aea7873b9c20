"""The running ingestor: connections -> pipeline -> batcher -> writer thread -> sinks.

The event loop only decodes, checks books and batches. Sinks run in one writer thread
behind a bounded queue; when the queue is full (sinks slower than the feed, or one
hanging until its timeout), batches continue on disk in the writer's overflow spool, so
memory stays bounded under any backlog and the event loop never waits for a sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from . import speedups, validate
from .batcher import Batch, Batcher, split_unencodable
from .books import BookState, SnapshotResult
from .config import OVERFLOW_SPOOL, UNSPOOLED_SINKS, Config
from .connections import ConnectionManager, OkxConnection, RateLimiter
from .marks import TradeMarks
from .pipeline import Pipeline
from .quarantine import Quarantine
from .rest import (
    HISTORY_PAGE,
    RestError,
    fetch_books_snapshot,
    fetch_instruments,
    fetch_trades_page,
)
from .sdnotify import sd_notify, watchdog_interval_s
from .sinks import (
    LATEST_TABLES,
    ChdbSink,
    ClickHouseSink,
    Delivery,
    JsonLinesSink,
    KafkaSink,
    RedisLatestSink,
    RedisLatestWriter,
    Sink,
)
from .spool import DeadLetter, Spool
from .supervise import Supervisor

log = logging.getLogger("okx_ingestor.service")
# How often the books' integrity pass runs (crossed/locked top, staleness): a corrupt
# book is resynchronised within this; the pass costs ~1 µs per book.
BOOK_CHECK_S = 1.0
# Trade backfill after a reconnect: at most this many REST pages of 100 (OKX: 20 requests
# per 2 s for history-trades), i.e. the last 1,000 trades of each instrument.
BACKFILL_PAGES = 10


def build_redis_writer(
    cfg: Config, supervisor: Supervisor | None = None
) -> RedisLatestWriter | None:
    """sinks.redis: latest state written per message (not per batch), see RedisLatestWriter."""
    settings = cfg.sinks.get("redis")
    if settings is None:
        return None
    sink = RedisLatestSink(settings["url"], settings.get("prefix", "okx"))
    return RedisLatestWriter(sink, supervisor=supervisor)


def build_deliveries(cfg: Config) -> list[Delivery]:
    """Batch sinks (Redis is not one: build_redis_writer)."""
    out: list[Delivery] = []
    for name, settings in cfg.sinks.items():
        sink: Sink
        if name == "clickhouse":
            sink = ClickHouseSink(settings)
        elif name == "chdb":
            sql_dir = settings.get("sql_dir")
            engine_dir = settings.get("engine_dir")
            sink = ChdbSink(
                Path(settings["path"]),
                sql_dir=Path(sql_dir) if sql_dir else None,
                engine_dir=Path(engine_dir) if engine_dir else None,
                database=cfg.database,
                variables={k: str(v) for k, v in (settings.get("variables") or {}).items()},
            )
        elif name == "redis":
            continue  # per message, through build_redis_writer
        elif name == "jsonl":
            sink = JsonLinesSink(Path(settings["path"]))
        elif name == "kafka":
            sink = KafkaSink(settings)
        else:
            raise RuntimeError(
                f"sink {name!r} is not built into this version; remove sinks.{name} from the config"
            )
        spool = dead = None
        if name not in UNSPOOLED_SINKS:
            spool = Spool(cfg.spool_path(name), max_bytes=cfg.spool_max_bytes)
            dead = DeadLetter(cfg.dead_letter_path(name), max_bytes=cfg.dead_letter_max_bytes)
        out.append(Delivery(sink, spool, dead))
    return out


def tune_gc() -> None:
    """Startup objects (modules, config) out of every later GC pass.

    The gen-0 threshold stays at Python's default (700) on purpose: measured with
    bench/ingestor_throughput.py, 50,000 was about 5 % slower on the mixed stream and on
    the 2022 recording, because a large gen-0 pass walks megabytes of cold row tuples
    while a small one finds them still in cache; raising it further was slower still."""
    import gc

    gc.collect()
    gc.freeze()


class Writer(threading.Thread):
    """Delivers batches to every sink, in the order they were made; drains the sinks'
    spools when they come back.

    One first-in first-out line feeds the thread: an in-memory queue of `max_queue`
    batches, or, once the queue is full (the thread is behind: a sink is slow, or hangs
    until its timeout), the overflow spool on disk. An overflow moves the queued batches
    into the spool ahead of the new one, and while the spool holds anything new batches
    go behind it: so the line is either the queue or the spool, and the thread takes
    batches in the order they were made. `lock` guards that hand-over and nothing else -
    never a sink write - so offer(), on the event loop, never waits for a sink, and
    memory stays bounded (the queue, then a spool bounded by `overflow_max_bytes` with
    the spool's shedding policy).

    stop() lets the thread deliver what is queued in memory and leaves the overflow spool
    on disk: it is fsync'd, and the next start delivers it before anything newer. When a
    hanging sink keeps the thread past the timeout, the queue goes to the spool too; only
    the one batch in that sink's hands can then be lost (or, with a dedup token, resent).
    """

    def __init__(
        self,
        deliveries: list[Delivery],
        max_queue: int,
        insert_hist: Histogram,
        overflow_dir: Path,
        *,
        overflow_max_bytes: int = 1 << 30,
        fsync: bool = True,
        supervisor: Supervisor | None = None,
        marks: TradeMarks | None = None,
    ) -> None:
        super().__init__(name="okx-writer", daemon=True)
        self.marks = marks  # raised after each raw_ticks batch is delivered or spooled
        # Errors on one batch are contained (its bad rows quarantined); an error that
        # escapes the loop fails the stage, and the service exits non-zero.
        self.supervisor = supervisor or Supervisor()
        self.deliveries = deliveries
        self.max_queue = max_queue
        self.queue: deque[Batch] = deque()
        self.overflow_dir = overflow_dir
        self.overflow_max_bytes = overflow_max_bytes
        self.fsync = fsync
        # Opened at start only when a previous run left it; else at the first overflow.
        self.overflow: Spool | None = self._open_overflow() if overflow_dir.exists() else None
        self.overflow_batches = 0
        self.undecodable_batches = 0  # overflow records set aside (_set_aside)
        self.lock = threading.Lock()
        self.insert_hist = insert_hist
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def _open_overflow(self) -> Spool:
        return Spool(self.overflow_dir, max_bytes=self.overflow_max_bytes, fsync=self.fsync)

    def offer(self, batch: Batch) -> None:
        """Called on the event loop: into the queue, or behind it on disk (see above)."""
        with self.lock:
            overflow = self.overflow
            if (overflow is None or overflow.empty()) and len(self.queue) < self.max_queue:
                self.queue.append(batch)
            else:
                self.overflow_batches += 1
                self._to_overflow(batch)
        self._wake.set()

    def _prepare(self, batch: Batch) -> None:
        """The batch's dedup token; rows that cannot be encoded (an int beyond 64 bits:
        the boundary checks should have stopped it) are quarantined, the rest goes on."""
        try:
            batch.ensure_token()
        except TypeError as exc:  # orjson.JSONEncodeError
            bad = split_unencodable(batch)
            self.supervisor.quarantine.rows("unencodable_row", batch.table, bad, repr(exc))

    def _to_overflow(self, batch: Batch | None) -> None:
        """The queued batches, then `batch`, into the overflow spool (caller holds lock).
        Shed by the spool's policy when it is full (counted in its stats)."""
        if self.overflow is None:
            self.overflow = self._open_overflow()
        while self.queue:
            queued = self.queue.popleft()
            self._prepare(queued)
            self.overflow.append(queued)
        if batch is not None:
            self._prepare(batch)
            self.overflow.append(batch)

    def pending(self) -> int:
        """Batches waiting for the thread: queued, and in the overflow spool."""
        with self.lock:
            return len(self.queue) + (len(self.overflow) if self.overflow is not None else 0)

    def _next(self) -> tuple[Batch, tuple[Path, int] | None] | None:
        """The oldest waiting batch, and where it is in the overflow spool (if there)."""
        while True:
            with self.lock:
                if self.queue:
                    return self.queue.popleft(), None
                if self._stopping.is_set() or self.overflow is None:
                    return None
                head = self.overflow.head()  # one record read; decoded outside the lock
            if head is None:
                return None
            seg, index, payload = head
            try:
                return Batch.decode(payload), (seg, index)
            except (ValueError, KeyError, TypeError) as exc:  # e.g. written by another version
                self._set_aside(seg, index, payload, exc)

    def _set_aside(self, seg: Path, index: int, payload: bytes, exc: Exception) -> None:
        """A record that is not a batch (CRC intact): kept beside the spool, not replayed,
        so it cannot block every batch behind it."""
        path = self.overflow_dir / f"undecodable-{seg.stem}-{index}.record"
        path.write_bytes(payload)
        self.undecodable_batches += 1
        log.error(
            "overflow spool record is not a batch; set aside",
            extra={"path": str(path), "error": repr(exc)[:200]},
        )
        with self.lock:
            assert self.overflow is not None
            self.overflow.ack_head(seg, index)

    def run(self) -> None:
        self.supervisor.run_thread("writer", self._serve)

    def _serve(self) -> None:
        progress = self.supervisor.progress
        while True:
            progress("writer")
            self._wake.wait(timeout=0.5)
            self._wake.clear()  # before taking: a batch offered after this wakes us again
            while (item := self._next()) is not None:
                batch, overflow_at = item
                self._deliver(batch)
                progress("writer")
                if overflow_at is not None:
                    with self.lock:
                        assert self.overflow is not None
                        self.overflow.ack_head(*overflow_at)
            if self._stopping.is_set():
                return
            for d in self.deliveries:
                try:
                    d.drain(limit=20)
                except Exception as exc:  # a bug or a full disk: counted, retried next pass
                    self.supervisor.contained("writer", exc, f"draining the {d.sink.name} spool")

    def _deliver(self, batch: Batch) -> None:
        """One batch to every sink. Rows that cannot be encoded are quarantined first; an
        unexpected error in one sink's hands is contained (logged with the batch, counted)
        and the other sinks and the next batches go on."""
        self._prepare(batch)
        for d in self.deliveries:
            t0 = time.perf_counter()
            try:
                d.submit(batch)
            except Exception as exc:
                what = f"{batch.table} batch of {len(batch.rows)} rows, token {batch.token}"
                self.supervisor.contained("writer", exc, f"{d.sink.name}: {what}")
            self.insert_hist.labels(d.sink.name).observe(time.perf_counter() - t0)
        if self.marks is not None and batch.table.endswith(".raw_ticks"):
            self.marks.update(batch.rows)  # type: ignore[arg-type]

    def stop(self, timeout: float) -> bool:
        """Deliver what is queued in memory and end the thread; False if it did not end
        within `timeout` (a sink hangs)."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive() or self.ident is not None:
            self.join(timeout)
        if not self.is_alive():
            failed = "writer" in self.supervisor.failed
            with self.lock:  # a thread that died leaves its queue: keep it on disk
                if self.queue:
                    log.error(
                        "writer thread ended with batches queued; they went to the overflow "
                        "spool for the next start",
                        extra={"batches": len(self.queue), "overflow_dir": str(self.overflow_dir)},
                    )
                    self._to_overflow(None)
                    failed = True
            return not failed
        with self.lock:  # the thread is stuck in a sink: keep on disk what it has not taken
            kept = len(self.queue)
            if kept:
                self._to_overflow(None)
        log.error(
            "writer did not stop in time (a sink hangs); its queue went to the overflow spool",
            extra={"batches": kept, "overflow_dir": str(self.overflow_dir)},
        )
        return False


class StatsCollector(Collector):
    """Prometheus view of the counters the hot path keeps anyway (no per-message cost)."""

    def __init__(self, service: Service) -> None:
        self.s = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.s
        st = s.pipeline.stats
        m = CounterMetricFamily(
            "okx_messages", "Data messages by channel and instrument", labels=["channel", "inst_id"]
        )
        for (channel, inst), n in st.by_stream.items():
            m.add_metric([channel, inst], n)
        yield m
        yield CounterMetricFamily("okx_frames", "All frames received", value=st.messages)
        pe = CounterMetricFamily("okx_parse_errors", "Unparsable messages", labels=["kind"])
        for kind, n in st.parse_error_kinds.items():
            pe.add_metric([kind], n)
        yield pe
        ec = CounterMetricFamily("okx_error_events", "OKX error/notice events", labels=["code"])
        for code, n in st.error_codes.items():
            ec.add_metric([code], n)
        yield ec
        b = s.pipeline.books.totals()
        bk = CounterMetricFamily(
            "okx_book_events", "Book sequence/checksum events", labels=["event"]
        )
        for name in (
            "snapshots",
            "updates",
            "heartbeats",
            "duplicates",
            "gaps",
            "resets",
            "resyncs",
            "checksum_ok",
            "checksum_failures",
            "buffered_dropped",
            "crossed",
            "locked",
        ):
            bk.add_metric([name], getattr(b, name))
        yield bk
        crossed = CounterMetricFamily(
            "okx_book_crossed",
            "Books found crossed (bid > ask) or locked (bid == ask) and resynchronised",
            labels=["kind"],
        )
        crossed.add_metric(["crossed"], b.crossed)
        crossed.add_metric(["locked"], b.locked)
        yield crossed
        age = GaugeMetricFamily(
            "okx_book_age_seconds",
            "Seconds since the exchange timestamp of a live book's last push (staleness)",
            labels=["channel", "inst_id"],
        )
        for (channel, inst), seconds in s.book_ages.items():
            age.add_metric([channel, inst], seconds)
        yield age
        conns = [c.stats for c in s.manager.connections]
        yield CounterMetricFamily(
            "okx_reconnects", "WebSocket reconnects", value=sum(c.reconnects for c in conns)
        )
        yield CounterMetricFamily(
            "okx_pong_timeouts", "Pings without pong", value=sum(c.pong_timeouts for c in conns)
        )
        yield GaugeMetricFamily("okx_connections", "Open connection objects", value=len(conns))
        budget = GaugeMetricFamily(
            "okx_resync_budget_remaining",
            "Subscribe/unsubscribe requests left in the connection's hourly budget (OKX: 480)",
            labels=["conn"],
        )
        for conn in s.manager.connections:
            budget.add_metric([conn.name], conn.ops.remaining())
        yield budget
        yield CounterMetricFamily(
            "okx_ws_logins", "WebSocket login requests sent (l2-tbt connections)",
            value=sum(c.logins for c in conns),
        )  # fmt: skip
        refused = GaugeMetricFamily(
            "okx_connection_refused",
            "1 for a connection OKX refused for good (login error, 64003 fee tier): it does "
            "not reconnect; fix the cause (label code) and restart",
            labels=["conn", "code"],
        )
        for conn in s.manager.connections:
            if conn.failed is not None:
                refused.add_metric([conn.name, conn.failed], 1)
        yield refused
        yield CounterMetricFamily(
            "okx_trades_backfilled",
            "Trades fetched from the REST history after a reconnect (the reconnect's hole)",
            value=s.backfilled_trades,
        )
        yield CounterMetricFamily(
            "okx_resync_reconnects",
            "Resyncs done by reconnecting because the subscription budget was low",
            value=sum(c.budget_reconnects for c in conns),
        )
        info = GaugeMetricFamily(
            "okx_ingestor_info", "Always 1; `speedups` is c or python", labels=["speedups"]
        )
        info.add_metric([speedups.IMPLEMENTATION], 1)
        yield info
        now_us = time.time_ns() // 1000
        yield GaugeMetricFamily(
            "okx_last_message_age_seconds",
            "Seconds since the last frame",
            value=(now_us - st.last_received_us) / 1e6 if st.last_received_us else float("nan"),
        )
        if st.last_exchange_ts and st.last_received_us:
            lag = st.last_received_us / 1e6 - st.last_exchange_ts / 1e3
            yield GaugeMetricFamily(
                "okx_exchange_to_receive_lag_seconds",
                "Receive time minus exchange ts, last message",
                value=lag,
            )
        rows = CounterMetricFamily("okx_rows", "Rows batched per table", labels=["table"])
        for table, n in s.batcher.rows_in.items():
            rows.add_metric([table], n)
        yield rows
        bt = CounterMetricFamily("okx_batches", "Batches made per table", labels=["table"])
        for table, n in s.batcher.batches_out.items():
            bt.add_metric([table], n)
        yield bt
        yield GaugeMetricFamily(
            "okx_pending_rows", "Rows waiting in the batcher", value=s.batcher.pending_rows()
        )
        yield GaugeMetricFamily(
            "okx_writer_queue",
            "Batches waiting for the writer (in memory and in its overflow spool)",
            value=s.writer.pending(),
        )
        yield CounterMetricFamily(
            "okx_writer_overflow_batches",
            "Batches offered while the writer was behind (they went to its overflow spool)",
            value=s.writer.overflow_batches,
        )
        yield CounterMetricFamily(
            "okx_writer_undecodable_batches",
            "Overflow spool records that were not batches, set aside beside the spool",
            value=s.writer.undecodable_batches,
        )
        sb = GaugeMetricFamily("okx_spool_bytes", "Spool size", labels=["sink"])
        shed = CounterMetricFamily(
            "okx_spool_shed_rows", "Rows shed by the spool policy", labels=["sink"]
        )
        delivered = CounterMetricFamily("okx_sink_rows", "Rows delivered", labels=["sink"])
        up = GaugeMetricFamily("okx_sink_up", "1 if the last write succeeded", labels=["sink"])
        dead = CounterMetricFamily(
            "okx_sink_dead_letter_batches",
            "Batches a sink rejected for good (moved to the dead-letter directory)",
            labels=["sink"],
        )
        dead_dropped = CounterMetricFamily(
            "okx_sink_dead_letter_dropped_batches",
            "Rejected batches not kept: dead-letter directory full or none (sink without spool)",
            labels=["sink"],
        )
        for d in s.writer.deliveries:
            name = d.sink.name
            dead.add_metric([name], d.dead_letter_batches)
            kept = d.dead_letter.written if d.dead_letter is not None else 0
            dead_dropped.add_metric([name], d.dead_letter_batches - kept)
            delivered.add_metric([name], d.delivered_rows)
            up.add_metric([name], 1.0 if d.up else 0.0)
            if d.spool is not None:
                sb.add_metric([name], d.spool.bytes)
                shed.add_metric([name], d.spool.stats.shed_rows)
        overflow = s.writer.overflow
        if overflow is not None:  # batches the writer could not take in time, on disk
            sb.add_metric([OVERFLOW_SPOOL], overflow.bytes)
            shed.add_metric([OVERFLOW_SPOOL], overflow.stats.shed_rows)
        yield sb
        yield shed
        yield CounterMetricFamily(
            "okx_rest_errors",
            "Failed REST requests (books snapshots, instruments)",
            value=s.rest_errors,
        )
        yield CounterMetricFamily(
            "okx_symbol_rows", "Instrument rows fetched for hft_data.symbols", value=s.symbol_rows
        )
        latest = s.latest
        if latest is not None:
            up.add_metric([latest.sink.name], 1.0 if latest.up else 0.0)
            yield CounterMetricFamily(
                "okx_redis_latest_writes",
                "Pipelined latest-state writes to Redis (one HSET per dirty instrument)",
                value=latest.writes,
            )
            yield CounterMetricFamily(
                "okx_redis_latest_keys", "Latest-state hashes written", value=latest.keys_written
            )
            yield CounterMetricFamily(
                "okx_redis_latest_errors", "Failed latest-state writes", value=latest.errors
            )
            yield GaugeMetricFamily(
                "okx_redis_latest_pending", "Dirty keys waiting for Redis", value=latest.pending()
            )
        yield delivered
        yield up
        yield dead
        yield dead_dropped
        yield from self._supervision()

    def _supervision(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        sup = self.s.supervisor
        q = CounterMetricFamily(
            "okx_quarantined",
            "Messages and rows set aside (quarantine file), by reason",
            labels=["reason"],
        )
        for reason, n in sup.quarantine.counts.items():
            q.add_metric([reason], n)
        yield q
        age = GaugeMetricFamily(
            "okx_stage_last_progress_seconds",
            "Seconds since the stage last made progress (its loop passes also when idle)",
            labels=["stage"],
        )
        for stage, seconds in sup.ages().items():
            age.add_metric([stage], seconds)
        yield age
        errors = CounterMetricFamily(
            "okx_stage_errors", "Unexpected errors contained by a stage", labels=["stage"]
        )
        for stage, n in sup.errors.items():
            errors.add_metric([stage], n)
        yield errors
        failed = GaugeMetricFamily(
            "okx_stage_failed", "1 when the stage failed (the service is exiting)", labels=["stage"]
        )
        for stage in sup.failed:
            failed.add_metric([stage], 1)
        yield failed


class Service:
    def __init__(self, cfg: Config, registry: CollectorRegistry | None = None) -> None:
        self.cfg = cfg
        self.registry = registry or CollectorRegistry()
        self.insert_hist = Histogram(
            "okx_sink_write_seconds",
            "Sink write latency per batch",
            ["sink"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "okx_batch_rows",
            "Rows per batch",
            registry=self.registry,
            buckets=(10, 100, 1000, 10_000, 50_000, 100_000),
        )
        validate.configure(cfg.ts_min_ms, int(cfg.ts_max_ahead_s * 1000))
        self.quarantine = Quarantine(cfg.quarantine_path(), max_bytes=cfg.quarantine_max_bytes)
        self.supervisor = Supervisor(self.quarantine, stall_s=cfg.stall_s)
        # Where a restart's trade backfill begins (the restart half of issue 13 item 9).
        self.marks = TradeMarks(cfg.spool_dir / "trade-marks.json") if cfg.backfill_trades else None
        self.writer = Writer(
            build_deliveries(cfg),
            cfg.queue_batches,
            self.insert_hist,
            cfg.overflow_spool_path(),
            overflow_max_bytes=cfg.spool_max_bytes,
            supervisor=self.supervisor,
            marks=self.marks,
        )
        self.batcher = Batcher(
            self._deliver, max_rows=cfg.batch_max_rows, max_interval_s=cfg.batch_max_interval_s
        )
        self.manager = ConnectionManager(
            self._on_frame,
            max_args_per_connection=cfg.max_channels_per_connection,
            ping_after_s=cfg.ping_after_s,
            pong_timeout_s=cfg.pong_timeout_s,
            backoff_base_s=cfg.backoff_base_s,
            backoff_cap_s=cfg.backoff_cap_s,
            on_error=self._frame_error,
            watch=self._watch_connection_task,
            on_subscribed=self._on_subscribed,
            on_closed=self._on_closed,
        )
        self.latest = build_redis_writer(cfg, self.supervisor)
        self.pipeline = Pipeline(
            self._emit(),
            database=cfg.database,
            book_levels=cfg.book_levels,
            on_resync=self.manager.resync,
            count_rows=False,
            quarantine=self.quarantine,
            inst_ids=cfg.instruments,
        )
        self.registry.register(StatsCollector(self))
        self.stopping = asyncio.Event()
        self.metrics_port: int | None = None
        self.rest_errors = 0
        self.symbol_rows = 0
        self.backfilled_trades = 0  # trades fetched from REST after a reconnect (item 9)
        # (channel, instId) -> newest tradeId when a connection carrying it closed, or,
        # at start, the newest one stored before (trade-marks.json)
        self._trade_marks: dict[tuple[str, str], int] = {}
        for inst, mark in (self.marks.marks if self.marks is not None else {}).items():
            for channel in ("trades", "trades-all"):
                if channel in cfg.channels and inst in cfg.instruments:
                    self._trade_marks[(channel, inst)] = mark
        # (channel, instId) -> seconds since a live book's last push (check_books)
        self.book_ages: dict[tuple[str, str], float] = {}

    def _emit(self) -> Callable[[str, tuple[object, ...]], None]:
        """What the pipeline calls per row: the batcher, plus Redis for bbo/trade rows."""
        add = self.batcher.add
        latest = self.latest
        if latest is None:
            return add  # no wrapper, no per-row cost
        mark = latest.mark
        watched = {f"{self.cfg.database}.{short}": short for short in LATEST_TABLES}

        def emit(table: str, row: tuple[object, ...]) -> None:
            add(table, row)
            short = watched.get(table)
            if short is not None:
                mark(short, row)

        return emit

    def _deliver(self, batch: Batch) -> None:
        self.batch_rows.observe(len(batch.rows))
        self.writer.offer(batch)

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            self.pipeline.process(frame)
        except Exception as exc:  # a bug on one frame: that frame is quarantined, go on
            self.supervisor.contained("pipeline", exc, frame)

    def _frame_error(self, conn: str, exc: BaseException, frame: object) -> None:
        """A connection's error on one frame (or one session): contained and counted."""
        self.supervisor.contained("connection", exc, frame)

    def _watch_connection_task(self, task: asyncio.Task[None], stage: str, one_off: bool) -> None:
        self.supervisor.watch(task, stage, may_end=True, contain=one_off)

    def _on_closed(self, conn: OkxConnection) -> None:
        """A session ended: the newest tradeId of each of its trade streams marks where
        the hole begins (its backfill after the reconnect starts there)."""
        if self.supervisor.stopping:
            return
        for arg in conn.args:
            key = (arg["channel"], arg.get("instId", ""))
            seen = self.pipeline._recent_trades.get(key)
            if key[0] in ("trades", "trades-all") and seen and seen[1]:
                self._trade_marks[key] = max(int(t) for t in seen[1])

    def _on_subscribed(self, conn: OkxConnection) -> None:
        """A connection has every subscription again. After a reconnect, or at the first
        session after a restart (trade-marks.json), the trades of the hole come from
        OKX's REST trade history (`rest.backfill_trades`)."""
        if not self.cfg.backfill_trades:
            return
        task = asyncio.get_running_loop().create_task(self._backfill_trades(conn))
        self.supervisor.watch(task, f"backfill:{conn.name}", may_end=True, contain=True)

    async def _backfill_trades(self, conn: OkxConnection) -> None:
        for arg in conn.args:
            if arg["channel"] in ("trades", "trades-all"):
                await self._backfill_stream(arg["channel"], arg["instId"])

    async def _backfill_stream(self, channel: str, inst_id: str) -> None:
        """The trades newer than the newest one seen on (channel, instId), page by page
        back from OKX's newest (by tradeId, at most BACKFILL_PAGES pages), fed oldest
        first through the pipeline as trade pushes: same checks, and its tradeId dedup
        drops those already stored. Individual trades (count 1), as trades-all sends."""
        last = self._trade_marks.pop((channel, inst_id), None)
        if last is None:
            return
        fresh: list[dict[str, object]] = []
        after: str | None = None
        for _ in range(BACKFILL_PAGES):
            try:
                page = await asyncio.to_thread(fetch_trades_page, self.cfg.rest_url, inst_id, after)
            except RestError as exc:
                self.rest_errors += 1
                log.warning("trade backfill failed; the trades of the reconnect may be missing",
                            extra={"inst_id": inst_id, "error": str(exc)})  # fmt: skip
                break
            ids = [str(d.get("tradeId", "")) for d in page]
            newer = [d for d, i in zip(page, ids, strict=True) if i.isdigit() and int(i) > last]
            fresh.extend(newer)
            if len(page) < HISTORY_PAGE or len(newer) < len(page):
                break
            after = ids[-1]
        else:
            log.warning("trade backfill reached its page limit; older trades of the hole "
                        "are missing", extra={"inst_id": inst_id, "pages": BACKFILL_PAGES,
                                              "after": last})  # fmt: skip
        fresh.sort(key=lambda d: int(str(d["tradeId"])))
        for d in fresh:
            self._on_frame(
                orjson.dumps({"arg": {"channel": channel, "instId": inst_id}, "data": [d]})
            )
        self.backfilled_trades += len(fresh)
        if fresh:
            log.info("trades backfilled after a reconnect",
                     extra={"inst_id": inst_id, "trades": len(fresh), "after": last})  # fmt: skip

    def start_metrics(self) -> None:
        if self.cfg.metrics_port == 0 and self.metrics_port is None:
            import socket

            with socket.socket() as sock:
                sock.bind((self.cfg.metrics_listen, 0))
                self.metrics_port = sock.getsockname()[1]
        else:
            self.metrics_port = self.cfg.metrics_port
        start_http_server(self.metrics_port, addr=self.cfg.metrics_listen, registry=self.registry)

    async def run(self) -> int:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stopping.set)
        sup = self.supervisor
        sup.on_failure = lambda: loop.call_soon_threadsafe(self.stopping.set)
        tune_gc()
        self.writer.start()
        if self.latest is not None:
            self.latest.attach(loop)
            self.latest.start()
        for url, args in cfg.subscriptions().items():
            self.manager.plan(url, args, cfg.login)  # planner.py: login, no 64004
        self.manager.start()
        sd_notify("READY=1")
        log.info(
            "ingestor started",
            extra={
                "instance": cfg.instance,
                "connections": len(self.manager.connections),
                "metrics_port": self.metrics_port,
                "speedups": speedups.IMPLEMENTATION,
            },
        )
        fetcher = asyncio.create_task(self._rest_snapshots())
        sup.watch(fetcher, "rest")
        symbols = asyncio.create_task(self._refresh_symbols()) if cfg.symbols else None
        if symbols is not None:
            sup.watch(symbols, "symbols")
        watchdog = watchdog_interval_s()
        last_watchdog = last_book_check = 0.0
        reported: list[str] = []
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=0.1)
            sup.progress("loop")
            try:
                self.batcher.poll()
            except Exception as exc:  # offer() on a full disk, a bug: counted, retried
                sup.contained("batcher", exc)
            now = time.monotonic()
            if now - last_book_check >= BOOK_CHECK_S:
                last_book_check = now
                try:  # crossed/locked books resync; ages for okx_book_age_seconds
                    self.book_ages = self.pipeline.check_books()
                except Exception as exc:
                    sup.contained("books", exc)
            if watchdog is not None and now - last_watchdog >= watchdog:
                # Fed only while every stage makes progress: a stuck stage gets the
                # service restarted by systemd (WatchdogSec), the spools kept on disk.
                stalled = sup.stalled(now)
                if sup.healthy(now):
                    sd_notify("WATCHDOG=1")
                    last_watchdog = now
                elif stalled != reported:
                    log.error("stage stalled; not feeding the systemd watchdog",
                              extra={"stages": stalled, "stall_s": sup.stall_s})  # fmt: skip
                reported = stalled
        for task in (fetcher, symbols):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return await self.shutdown()

    async def _rest_snapshots(self) -> None:
        """OKX's buffering procedure for books that got no WS snapshot in time.

        A book that has buffered updates for `rest.snapshot_after_s` (no WS snapshot
        came, e.g. after OKX removed the initial snapshot) gets a REST snapshot; a
        REFETCH result (snapshot older than the buffer) is retried on the next pass.
        """
        limiter = RateLimiter(20, 1.0)  # OKX: 40 requests / 2 s
        waiting_since: dict[tuple[str, str], float] = {}
        while True:
            await asyncio.sleep(0.25)
            self.supervisor.progress("rest")
            try:
                await self._rest_pass(limiter, waiting_since)
            except Exception as exc:  # a bug on one book: counted, the next pass goes on
                self.supervisor.contained("rest", exc)

    async def _rest_pass(
        self, limiter: RateLimiter, waiting_since: dict[tuple[str, str], float]
    ) -> None:
        """One pass over the buffering books (see _rest_snapshots)."""
        cfg = self.cfg
        now = time.monotonic()
        for key, book in list(self.pipeline.books.books.items()):
            if book.state is not BookState.BUFFERING or not book.buffered:
                waiting_since.pop(key, None)
                continue
            since = waiting_since.setdefault(key, now)
            if now - since < cfg.rest_snapshot_after_s:
                continue
            await limiter.acquire()
            try:
                snap = await asyncio.to_thread(
                    fetch_books_snapshot, cfg.rest_url, book.inst_id, cfg.rest_depth
                )
            except RestError as exc:
                self.rest_errors += 1
                log.warning(
                    "REST snapshot failed", extra={"inst_id": book.inst_id, "error": str(exc)}
                )
                waiting_since[key] = now  # wait another period before retrying
                continue
            result = self.pipeline.rest_snapshot(book.channel, book.inst_id, snap)
            if result is SnapshotResult.LIVE:
                waiting_since.pop(key, None)

    async def _refresh_symbols(self) -> None:
        """/api/v5/public/instruments -> hft_data.symbols, at start and every N minutes.

        One batch per (instType, instFamily) answer, through the same writer as market
        data (ClickHouse server, chdb, JSON lines). A failed fetch is counted, logged and
        retried at the next period; the table keeps the previous fetch.
        """
        cfg = self.cfg
        table = f"{cfg.database}.symbols"
        while True:
            for inst_type, family in cfg.symbol_queries():
                now_us = time.time_ns() // 1000
                try:
                    rows = await asyncio.to_thread(
                        fetch_instruments, cfg.rest_url, inst_type, family, now_us
                    )
                except RestError as exc:
                    self.rest_errors += 1
                    log.warning(
                        "instruments fetch failed; hft_data.symbols keeps the previous fetch",
                        extra={"inst_type": inst_type, "inst_family": family, "error": str(exc)},
                    )
                    continue
                if rows:
                    self.symbol_rows += len(rows)
                    self._deliver(Batch(table, rows, "", now_us))
            await asyncio.sleep(cfg.symbols_refresh_min * 60)

    async def shutdown(self) -> int:
        """Stop reading, flush every pending row, let the writer finish within the timeout."""
        sd_notify("STOPPING=1")
        self.supervisor.stopping = True
        await self.manager.stop()
        self.batcher.flush()
        clean = await asyncio.to_thread(self.writer.stop, self.cfg.shutdown_timeout_s)
        if self.latest is not None and self.latest.is_alive():
            clean = await asyncio.to_thread(self.latest.stop, 2.0) and clean
            self.latest.sink.close()
        for d in self.writer.deliveries:
            with contextlib.suppress(Exception):
                d.sink.close()
        self.quarantine.close()
        failed = dict(self.supervisor.failed)
        log.info("ingestor stopped", extra={"clean": clean, "failed_stages": failed,
                                            **self.pipeline.summary()})  # fmt: skip
        return 0 if clean and not failed else 1
