"""decoder -> books -> normalizer, shared by the live service, replay and the bench."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .books import BookRegistry, Outcome, SnapshotResult
from .clock import WallClock
from .decoder import (
    INCREMENTAL_BOOK_CHANNELS,
    BookData,
    BookMsg,
    DecodeError,
    Event,
    FundingRate,
    IndexTicker,
    MarkPrice,
    Message,
    Pong,
    RecordsMsg,
    Ticker,
    TradesMsg,
    decode,
)
from .normalizer import Emit, Normalizer

log = logging.getLogger("okx_ingestor.pipeline")

ResyncHook = Callable[[str, str], None]
_APPLIED, _SNAPSHOT, _RESET = Outcome.APPLIED, Outcome.SNAPSHOT, Outcome.RESET
_GAP, _CHECKSUM_FAILED, _BAD_LEVEL = Outcome.GAP, Outcome.CHECKSUM_FAILED, Outcome.BAD_LEVEL


@dataclass
class PipelineStats:
    messages: int = 0
    data_messages: int = 0
    by_stream: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, instId)
    last_received_us: int = 0
    parse_errors: int = 0
    parse_error_kinds: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    pongs: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    duplicate_trades: int = 0
    rest_snapshots: Counter[str] = field(default_factory=Counter)
    last_exchange_ts: int = 0


class Pipeline:
    """Feed raw frames with `process()`; rows go to `emit(table, row)`."""

    def __init__(
        self,
        emit: Emit,
        *,
        database: str = "hft_data",
        books: BookRegistry | None = None,
        clock: WallClock | None = None,
        book_levels: bool = True,
        on_resync: ResyncHook | None = None,
        count_rows: bool = True,
    ) -> None:
        self.stats = PipelineStats()
        self.books = books or BookRegistry()
        self.clock = clock or WallClock()
        if count_rows:
            rows = self.stats.rows

            def counted_emit(table: str, row: tuple[object, ...]) -> None:
                rows[table] += 1
                emit(table, row)

            self.normalizer = Normalizer(counted_emit, database=database, book_levels=book_levels)
        else:  # the batcher counts rows itself; skip one call per row
            self.normalizer = Normalizer(emit, database=database, book_levels=book_levels)
        self.on_resync = on_resync
        self._logged_kinds: set[str] = set()
        self._recent_trades: dict[str, tuple[dict[str, None], deque[str]]] = {}

    def process(self, frame: str | bytes, received_us: int | None = None) -> Message | None:
        """Decode and route one frame; never raises on bad input (it is counted)."""
        stats = self.stats
        stats.messages += 1
        if received_us is None:
            received_us = self.clock.now_us()
        stats.last_received_us = received_us
        try:
            msg = decode(frame)
        except DecodeError as exc:
            self._parse_error(exc.kind, exc.detail)
            return None
        try:
            self._route(msg, received_us)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            if isinstance(msg, BookMsg | TradesMsg | RecordsMsg):
                stats.data_messages -= 1  # counted once, as a parse error
            self._parse_error(f"route:{type(exc).__name__}", repr(exc)[:80])
            return None
        return msg

    def _parse_error(self, kind: str, detail: str) -> None:
        stats = self.stats
        stats.parse_errors += 1
        stats.parse_error_kinds[kind] += 1
        if kind not in self._logged_kinds and len(self._logged_kinds) < 1000:
            self._logged_kinds.add(kind)
            log.warning(
                "unparsable message (logged once per kind)", extra={"kind": kind, "detail": detail}
            )

    def _route(self, msg: Message, received_us: int) -> None:
        stats = self.stats
        if isinstance(msg, BookMsg):
            stats.data_messages += 1
            stats.by_stream[(msg.channel, msg.inst_id)] += 1
            self._book(msg, received_us)
        elif isinstance(msg, TradesMsg):
            stats.data_messages += 1
            stats.by_stream[(msg.channel, msg.inst_id)] += 1
            if self._dedup_trades(msg):
                self.normalizer.trades(msg, received_us)
            if msg.trades:
                stats.last_exchange_ts = msg.trades[-1].ts
        elif isinstance(msg, RecordsMsg):
            stats.data_messages += 1
            stats.by_stream[(msg.channel, msg.inst_id)] += 1
            self._records(msg, received_us)
        elif isinstance(msg, Pong):
            stats.pongs += 1
        else:
            self._event(msg)

    def _dedup_trades(self, msg: TradesMsg) -> bool:
        """Drop trades already seen (two sockets overlap during a 64008 hand-over)."""
        seen = self._recent_trades.get(msg.channel + msg.inst_id)
        if seen is None:
            seen = self._recent_trades[msg.channel + msg.inst_id] = ({}, deque())
        ids, order = seen
        fresh = [t for t in msg.trades if t.trade_id not in ids]
        if len(fresh) != len(msg.trades):
            self.stats.duplicate_trades += len(msg.trades) - len(fresh)
            msg.trades = fresh
        for t in fresh:
            ids[t.trade_id] = None
            order.append(t.trade_id)
            if len(order) > 1024:
                del ids[order.popleft()]
        return bool(fresh)

    def _event(self, ev: Event) -> None:
        self.stats.events[ev.event] += 1
        if ev.code is not None and ev.event in ("error", "notice"):
            self.stats.error_codes[ev.code] += 1

    def _records(self, msg: RecordsMsg, received_us: int) -> None:
        norm = self.normalizer
        for r in msg.records:
            t = type(r)
            if t is Ticker:
                norm.ticker(r, received_us)
            elif t is FundingRate:
                norm.funding(r, received_us)
            elif t is MarkPrice:
                norm.mark(r, received_us)
            elif t is IndexTicker:
                norm.index(r, received_us)
            self.stats.last_exchange_ts = r.ts

    def _book(self, msg: BookMsg, received_us: int) -> None:
        norm = self.normalizer
        if msg.channel not in INCREMENTAL_BOOK_CHANNELS:
            for data in msg.items:
                norm.bbo_from_snapshot(msg, data, received_us)
                self.stats.last_exchange_ts = data.ts
            return
        book = self.books.books.get((msg.channel, msg.inst_id)) or self.books.get(
            msg.channel, msg.inst_id
        )
        for data in msg.items:
            self.stats.last_exchange_ts = data.ts
            outcome = book.apply(data, msg.action)
            if outcome is _APPLIED or outcome is _SNAPSHOT or outcome is _RESET:
                norm.book_message(msg, data, received_us)
                norm.bbo_from_book(book, received_us)
            elif outcome is _GAP or outcome is _CHECKSUM_FAILED or outcome is _BAD_LEVEL:
                log.warning(
                    "book dropped, resynchronising",
                    extra={
                        "inst_id": msg.inst_id,
                        "channel": msg.channel,
                        "reason": outcome.value,
                        "seq_id": data.seq_id,
                        "prev_seq_id": data.prev_seq_id,
                    },
                )
                if self.on_resync is not None:
                    self.on_resync(msg.channel, msg.inst_id)

    def rest_snapshot(self, channel: str, inst_id: str, snap: BookData) -> SnapshotResult:
        """Feed a REST snapshot to a buffering book; rows for it and the replayed updates."""
        book = self.books.get(channel, inst_id)
        result = book.feed_snapshot(snap)
        self.stats.rest_snapshots[result.value] += 1
        if result is SnapshotResult.LIVE:
            received_us = self.clock.now_us()
            norm = self.normalizer
            norm.book_message(BookMsg(channel, inst_id, "snapshot", [snap]), snap, received_us)
            for update in book.replayed:
                norm.book_message(BookMsg(channel, inst_id, "update", [update]), update,
                                  received_us)  # fmt: skip
            book.replayed = []
            norm.bbo_from_book(book, received_us)
        return result

    def summary(self) -> dict[str, object]:
        s = self.stats
        b = self.books.totals()
        by_channel: Counter[str] = Counter()
        for (channel, _), n in s.by_stream.items():
            by_channel[channel] += n
        return {
            "messages": s.messages,
            "data_messages": s.data_messages,
            "rows": dict(sorted(s.rows.items())),
            "parse_errors": s.parse_errors,
            "parse_error_kinds": dict(sorted(s.parse_error_kinds.items())),
            "events": dict(sorted(s.events.items())),
            "error_codes": dict(sorted(s.error_codes.items())),
            "by_channel": dict(sorted(by_channel.items())),
            "book_snapshots": b.snapshots,
            "book_updates": b.updates,
            "book_heartbeats": b.heartbeats,
            "book_duplicates": b.duplicates,
            "duplicate_trades": s.duplicate_trades,
            "book_gaps": b.gaps,
            "book_resets": b.resets,
            "book_resyncs": b.resyncs,
            "checksum_ok": b.checksum_ok,
            "checksum_failures": b.checksum_failures,
            "checksum_skipped": b.checksum_skipped,
            "book_bad_levels": b.bad_levels,
            "rest_snapshots": dict(sorted(s.rest_snapshots.items())),
        }
