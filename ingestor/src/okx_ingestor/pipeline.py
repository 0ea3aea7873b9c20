"""decoder -> books -> normalizer, shared by the live service, replay and the bench."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from msgspec import UNSET

from .books import BookRegistry, BookState, Outcome, SnapshotResult, same_price
from .clock import WallClock
from .decoder import (
    INCREMENTAL_BOOK_CHANNELS,
    INST_IDS,
    NUMBERS,
    BookData,
    BookMsg,
    DecodeError,
    EstimatedPrice,
    Event,
    FastArg,
    FastData,
    FastDecodeError,
    FastFrame,
    FundingRate,
    IndexTicker,
    Instrument,
    LiquidationOrders,
    MarkPrice,
    Message,
    OpenInterest,
    OptSummary,
    Pong,
    PriceLimit,
    RecordsMsg,
    SystemStatus,
    Ticker,
    TradesMsg,
    decode,
    decode_fast,
    is_number,
    known_inst_id,
    levels_ok,
)
from .normalizer import Emit, Normalizer, Row
from .quarantine import Quarantine
from .scopes import subscribed_scopes
from .speedups import book_sides_ok, push
from .validate import TS_LIMITS, UINT8_MAX, UINT32_MAX, UINT64_MAX, ms_of, uint_text

log = logging.getLogger("okx_ingestor.pipeline")


def _orders(level: Sequence[str]) -> int:
    """numOrders of a level, 0 when absent or not an integer (as normalizer._orders)."""
    try:
        return int(level[3])
    except (IndexError, ValueError, TypeError):
        return 0


ResyncHook = Callable[[str, str], None]
_APPLIED, _SNAPSHOT, _RESET = Outcome.APPLIED, Outcome.SNAPSHOT, Outcome.RESET
_GAP, _CHECKSUM_FAILED, _BAD_LEVEL = Outcome.GAP, Outcome.CHECKSUM_FAILED, Outcome.BAD_LEVEL
_LIVE = BookState.LIVE
_ROUTE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
# speedups.push's results: declined, done, or the book was dropped for this reason.
_PUSH_DECLINED, _PUSH_DONE = 0, 1
_PUSH_DROPPED = {2: _BAD_LEVEL, 3: _CHECKSUM_FAILED}


class _Decline(Exception):
    """The fast path leaves this frame to decode() (raised before any state changes)."""


# A fresh instance per raise: a shared one would keep its last traceback, and with it
# the frames and the Pipeline, alive (and frozen for good by service.tune_gc).
_DECLINE = _Decline


@dataclass(slots=True)  # slots: several attribute writes per message
class PipelineStats:
    messages: int = 0
    data_messages: int = 0
    # (channel, instId) -> messages; a plain dict: `d[k] = d.get(k, 0) + 1` is ~40 ns,
    # a Counter's `c[k] += 1` ~100 ns, once per message.
    by_stream: dict[tuple[str, str], int] = field(default_factory=dict)
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

    def count(self, key: tuple[str, str]) -> None:
        """One data message of stream `key` = (channel, instId)."""
        self.data_messages += 1
        by_stream = self.by_stream
        by_stream[key] = by_stream.get(key, 0) + 1


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
        quarantine: Quarantine | None = None,
        inst_ids: Iterable[str] | None = None,
    ) -> None:
        """`inst_ids`: the subscribed instruments (the service's `instruments`). A data
        push for any other instId is quarantined (`unsubscribed_inst_id`) before it
        reaches a book, a row or Redis; None (replay without --inst-ids) takes any
        well-formed instId."""
        self.stats = PipelineStats()
        # Frames that fail a check: counted per reason, logged once, kept in its file.
        self.quarantine = quarantine or Quarantine(None)
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
        # The instIds the fast paths take without a check: the subscription (fixed), or
        # every well-formed instId seen so far (decoder.INST_IDS, grown by known_inst_id).
        self.subscribed: frozenset[str] | None = None
        self._inst_ids = INST_IDS
        # (channel, instType / instFamily / "") the instruments imply (scopes.py)
        self.scopes: frozenset[tuple[str, str]] | None = None
        if inst_ids is not None:
            self.subscribed = frozenset(i for i in inst_ids if known_inst_id(i))
            self._inst_ids = set(self.subscribed)
            self.scopes = subscribed_scopes(self.subscribed)
        # (channel, instId) -> recent tradeIds (dict for lookup, deque for eviction order)
        self._recent_trades: dict[tuple[str, str], tuple[dict[str, None], deque[str]]] = {}
        # speedups.push's view of this pipeline (a tuple: one C argument, no attribute
        # lookups per message; nothing in it refers back to the Pipeline).
        norm = self.normalizer
        self._push_context = (
            self.books.books, _LIVE, self.stats, self._recent_trades, norm.emit,
            norm.book_levels, norm.t_book, norm.t_bbo, norm.t_ticks, norm.t_tickers, same_price,
            TS_LIMITS, self._inst_ids,
        )  # fmt: skip

    def process(self, frame: str | bytes, received_us: int | None = None) -> Message | None:
        """Decode and route one frame; never raises on bad input (it is counted).

        Books, trades and tickers pushes take the fast path (typed msgspec decode, rows
        built from it) and return None; everything else - control messages, other
        channels, anything the fast path is unsure about - goes through decode() and
        returns the decoded message (None for a parse error).
        """
        stats = self.stats
        stats.messages += 1
        if received_us is None:
            received_us = self.clock.now_us()
        stats.last_received_us = received_us
        try:
            f = decode_fast(frame)
        except FastDecodeError:
            return self._process_full(frame, received_us)
        if push is not None:  # the usual data push, in C (speedups.push); 0: declined
            try:
                code = push(self._push_context, f, received_us)
            except _ROUTE_ERRORS as exc:  # as the handlers' errors below
                stats.data_messages -= 1
                self._parse_error(f"route:{type(exc).__name__}", repr(exc)[:80], frame)
                return None
            if code:
                if code != _PUSH_DONE:
                    arg = f.arg
                    d = f.data[0]  # type: ignore[index]
                    self._book_dropped(arg.channel, arg.instId, _PUSH_DROPPED[code],  # type: ignore[union-attr]
                                       d.seqId, d.prevSeqId)  # fmt: skip
                return None
        arg = f.arg
        if arg is None or f.data is None or f.event is not None:
            return self._process_full(frame, received_us)
        handler = _FAST_HANDLERS.get(arg.channel)
        if handler is None or (
            arg.instId not in self._inst_ids
            and (self.subscribed is not None or not known_inst_id(arg.instId))
        ):
            return self._process_full(frame, received_us)
        try:
            handler(self, arg, f, received_us)
        except _Decline:
            return self._process_full(frame, received_us)
        except _ROUTE_ERRORS as exc:  # after validation: as _route's errors, counted
            stats.data_messages -= 1
            self._parse_error(f"route:{type(exc).__name__}", repr(exc)[:80], frame)
        return None

    def _process_full(self, frame: str | bytes, received_us: int) -> Message | None:
        stats = self.stats
        try:
            msg = decode(frame)
        except DecodeError as exc:
            self._parse_error(exc.kind, exc.detail, frame)
            return None
        subscribed = self.subscribed
        if (
            subscribed is not None
            and isinstance(msg, BookMsg | TradesMsg | RecordsMsg)
            and msg.inst_id not in subscribed
        ):  # issue 13 item 8: no book, row or Redis key for what we did not subscribe to
            if not isinstance(msg, RecordsMsg) or msg.arg_key == "instId":
                self._parse_error("unsubscribed_inst_id", repr(msg.inst_id)[:80], frame)
                return None
            if (msg.channel, msg.inst_id) not in self.scopes:  # type: ignore[operator]
                self._parse_error(
                    "unsubscribed_arg", f"{msg.channel} {msg.arg_key}={msg.inst_id!r}"[:80], frame
                )
                return None
        try:
            self._route(msg, received_us)
        except _ROUTE_ERRORS as exc:
            if isinstance(msg, BookMsg | TradesMsg | RecordsMsg):
                stats.data_messages -= 1  # counted once, as a parse error
            self._parse_error(f"route:{type(exc).__name__}", repr(exc)[:80], frame)
            return None
        return msg

    # -- fast path: validate everything first (raise _DECLINE), then change state ------
    def _fast_books(self, arg: FastArg, f: FastFrame, received_us: int) -> None:
        """Incremental books (seqId chain, checksum): same checks as decode() + _book()."""
        items = f.data
        assert items is not None
        timestamps = []
        inst_id = arg.instId
        for d in items:
            ts = ms_of(d.ts)
            if ts is None or (d.instId is not UNSET and d.instId != inst_id):
                raise _DECLINE
            timestamps.append(ts)
            # decode()'s _levels() checks (speedups: C when built, which also takes the
            # level tuples out of the cyclic GC); Level guarantees four strings.
            if not book_sides_ok(d.asks, d.bids, is_number):
                raise _DECLINE
        channel, action = arg.channel, f.action
        stats = self.stats
        key = (channel, inst_id)
        stats.count(key)
        book = self.books.books.get(key) or self.books.get(channel, inst_id)
        norm = self.normalizer
        emit = norm.emit
        for d, ts in zip(items, timestamps, strict=True):
            stats.last_exchange_ts = ts
            seq, prev, bids, asks, checksum = d.seqId, d.prevSeqId, d.bids, d.asks, d.checksum
            if action == "update" and prev != -1 and book.state is _LIVE:
                outcome = book.update(seq, prev, bids, asks, ts, checksum)
            else:
                outcome = book.apply(BookData(asks, bids, ts, checksum, seq, prev), action)
            if outcome is _APPLIED or outcome is _SNAPSHOT or outcome is _RESET:
                if norm.book_levels:
                    if prev is None:
                        prev = -1 if action == "snapshot" else 0
                    emit(
                        norm.t_book,
                        (inst_id, channel, action or "snapshot", ts,
                         0 if seq is None else seq, prev, checksum, bids, asks, received_us),
                    )  # fmt: skip
                # normalizer.bbo_from_book, inlined: a row only when the top changed.
                top = book.top_of_book()
                if book.last_top != top:
                    book.last_top = top
                    bid_px, bid_sz, ask_px, ask_sz = top
                    emit(
                        norm.t_bbo,
                        (inst_id, book.last_ts, book.last_seq_id or 0, bid_px, bid_sz, 0,
                         ask_px, ask_sz, 0, received_us, channel),
                    )  # fmt: skip
            elif outcome is _GAP or outcome is _CHECKSUM_FAILED or outcome is _BAD_LEVEL:
                self._book_dropped(channel, inst_id, outcome, seq, d.prevSeqId)

    def _fast_bbo(self, arg: FastArg, f: FastFrame, received_us: int) -> None:
        """books5 / bbo-tbt: full top-of-book snapshots, one bbo row per push."""
        items = f.data
        assert items is not None
        rows = [self._fast_bbo_row(arg.instId, arg.channel, d, received_us) for d in items]
        stats = self.stats
        stats.count((arg.channel, arg.instId))
        norm = self.normalizer
        emit, table = norm.emit, norm.t_bbo
        for row in rows:
            emit(table, row)
            stats.last_exchange_ts = row[1]  # type: ignore[assignment]

    def _fast_bbo_row(
        self, inst_id: str, channel: str, d: FastData, received_us: int
    ) -> tuple[object, ...]:
        ts = ms_of(d.ts)
        if ts is None or (d.instId is not UNSET and d.instId != inst_id):
            raise _DECLINE
        if not levels_ok(d.asks) or not levels_ok(d.bids):
            raise _DECLINE
        b = d.bids[0] if d.bids else ("0", "0", "0", "0")
        a = d.asks[0] if d.asks else ("0", "0", "0", "0")
        return (inst_id, ts, d.seqId or 0, b[0], b[1], _orders(b), a[0], a[1], _orders(a),
                received_us, channel)  # fmt: skip

    def _fast_trades(self, arg: FastArg, f: FastFrame, received_us: int) -> None:
        """trades / trades-all: decode()'s checks, then _dedup_trades + normalizer.trades."""
        items = f.data
        assert items is not None
        inst_id = arg.instId
        if len(items) == 1:  # the usual push: one trade, no lists
            tid, row = _trade_row(inst_id, items[0], received_us)
            ids, order = self._trades_seen(arg.channel, inst_id)
            if tid in ids:
                self.stats.duplicate_trades += 1
                return
            _remember_trade(ids, order, tid)
            norm = self.normalizer
            norm.emit(norm.t_ticks, row)
            self.stats.last_exchange_ts = row[2]  # type: ignore[assignment]
            return
        pending = [_trade_row(inst_id, d, received_us) for d in items]
        ids, order = self._trades_seen(arg.channel, inst_id)
        fresh = [p for p in pending if p[0] not in ids]  # all checked before any is added
        stats = self.stats
        stats.duplicate_trades += len(pending) - len(fresh)
        if not fresh:
            return
        for tid, _row in fresh:
            _remember_trade(ids, order, tid)
        norm = self.normalizer
        emit, table = norm.emit, norm.t_ticks
        for _, row in fresh:
            emit(table, row)
        stats.last_exchange_ts = fresh[-1][1][2]  # type: ignore[assignment]

    def _trades_seen(self, channel: str, inst_id: str) -> tuple[dict[str, None], deque[str]]:
        """Count a trades push and return its stream's recent tradeIds (for dedup)."""
        key = (channel, inst_id)
        self.stats.count(key)
        return self._recent_trade_ids(key)

    def _recent_trade_ids(self, key: tuple[str, str]) -> tuple[dict[str, None], deque[str]]:
        """The last tradeIds of stream `key` (dict to look up, deque to evict)."""
        seen = self._recent_trades.get(key)
        if seen is None:
            seen = self._recent_trades[key] = ({}, deque())
        return seen

    def _fast_tickers(self, arg: FastArg, f: FastFrame, received_us: int) -> None:
        """tickers: decode()'s _ticker checks, then normalizer.ticker's row."""
        items = f.data
        assert items is not None
        inst_id = arg.instId
        rows = [_ticker_row(inst_id, d, received_us) for d in items]
        stats = self.stats
        stats.count((arg.channel, inst_id))
        norm = self.normalizer
        emit, table = norm.emit, norm.t_tickers
        for row in rows:
            emit(table, row)
            stats.last_exchange_ts = row[2]  # type: ignore[assignment]

    def _parse_error(self, kind: str, detail: str, frame: str | bytes) -> None:
        """A frame that failed a check: counted per kind and quarantined (its reason)."""
        stats = self.stats
        stats.parse_errors += 1
        stats.parse_error_kinds[kind] += 1
        self.quarantine.message(kind, detail, frame)

    def _route(self, msg: Message, received_us: int) -> None:
        stats = self.stats
        if isinstance(msg, BookMsg):
            stats.count((msg.channel, msg.inst_id))
            self._book(msg, received_us)
        elif isinstance(msg, TradesMsg):
            stats.count((msg.channel, msg.inst_id))
            if self._dedup_trades(msg):
                self.normalizer.trades(msg, received_us)
            if msg.trades:
                stats.last_exchange_ts = msg.trades[-1].ts
        elif isinstance(msg, RecordsMsg):
            stats.count((msg.channel, msg.inst_id))
            self._records(msg, received_us)
        elif isinstance(msg, Pong):
            stats.pongs += 1
        else:
            self._event(msg)

    def _dedup_trades(self, msg: TradesMsg) -> bool:
        """Drop trades already seen (two sockets overlap during a 64008 hand-over)."""
        ids, order = self._recent_trade_ids((msg.channel, msg.inst_id))
        fresh = [t for t in msg.trades if t.trade_id not in ids]
        if len(fresh) != len(msg.trades):
            self.stats.duplicate_trades += len(msg.trades) - len(fresh)
            msg.trades = fresh
        for t in fresh:
            _remember_trade(ids, order, t.trade_id)
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
            else:  # issue 13: open-interest, liquidation-orders, ... (_RECORD_ROWS)
                _RECORD_ROWS[t](norm, r, received_us)
            if r.ts:
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
                self._book_dropped(msg.channel, msg.inst_id, outcome, data.seq_id, data.prev_seq_id)

    def _book_dropped(
        self, channel: str, inst_id: str, outcome: Outcome, seq: int | None, prev: int | None
    ) -> None:
        log.warning(
            "book dropped, resynchronising",
            extra={
                "inst_id": inst_id,
                "channel": channel,
                "reason": outcome.value,
                "seq_id": seq,
                "prev_seq_id": prev,
            },
        )
        if self.on_resync is not None:
            self.on_resync(channel, inst_id)

    def check_books(self, now_ms: int | None = None) -> dict[tuple[str, str], float]:
        """The integrity pass over every incremental book (the service runs it every
        second; no per-message cost): a crossed or locked top of book drops the book
        (counted: okx_book_crossed_total{kind}) and resynchronises it. Returns the age in
        seconds of each LIVE book's last push (exchange ts, `now_ms` default the wall
        clock): okx_book_age_seconds{channel,inst_id}, staleness per instrument."""
        if now_ms is None:
            now_ms = self.clock.now_us() // 1000
        ages: dict[tuple[str, str], float] = {}
        for key, book in list(self.books.books.items()):
            kind = book.check_top()
            if kind is not None:
                seq = book.last_seq_id
                book.drop()
                self._book_dropped(book.channel, book.inst_id, Outcome.CROSSED, seq, None)
            elif book.state is _LIVE and book.last_ts:
                ages[key] = max(0.0, (now_ms - book.last_ts) / 1000)
        return ages

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
            "book_crossed": b.crossed,
            "book_locked": b.locked,
            "rest_snapshots": dict(sorted(s.rest_snapshots.items())),
            "quarantined": dict(sorted(self.quarantine.counts.items())),
        }


def _remember_trade(ids: dict[str, None], order: deque[str], tid: str) -> None:
    """Keep the last 1024 tradeIds of a stream (dict to look up, deque to evict)."""
    ids[tid] = None
    order.append(tid)
    if len(order) > 1024:
        del ids[order.popleft()]


def _trade_row(inst_id: str, d: FastData, received_us: int) -> tuple[str, Row]:
    """(tradeId, raw_ticks row) after decode()'s _trade checks; _DECLINE otherwise."""
    tid, px, sz, side, raw_ts = d.tradeId, d.px, d.sz, d.side, d.ts
    numbers = NUMBERS
    if (
        not uint_text(tid, UINT64_MAX)
        or px is None
        or sz is None
        or (side != "buy" and side != "sell")
        or type(raw_ts) is not str
        or (ts := ms_of(raw_ts)) is None
        or (px not in numbers and not is_number(px))
        or (sz not in numbers and not is_number(sz))
        or (d.instId is not UNSET and d.instId != inst_id)
    ):
        raise _DECLINE
    assert tid is not None
    count, source = d.count, d.source
    if count is None:
        count = 1
    elif type(count) is str:
        if not uint_text(count, UINT32_MAX):
            raise _DECLINE
        count = int(count)
    if type(source) is str:
        if not uint_text(source, UINT8_MAX):
            raise _DECLINE
        source = int(source)
    return tid, (inst_id, int(tid), ts, px, sz, side, count, source or 0, d.seqId or 0,
                 received_us)  # fmt: skip


def _ticker_row(inst_id: str, d: FastData, received_us: int) -> Row:
    """A tickers row after decode()'s _ticker checks; _DECLINE otherwise."""
    ts, last, last_sz = ms_of(d.ts), d.last, d.lastSz
    if ts is None or (d.instId is not UNSET and d.instId != inst_id):
        raise _DECLINE
    numbers = NUMBERS
    if (
        last is None
        or last_sz is None
        or (last not in numbers and not is_number(last))
        or (last_sz not in numbers and not is_number(last_sz))
    ):
        raise _DECLINE
    # Row order: bid px/sz, ask px/sz, open, high, low, vol24h, volCcy24h.
    opt: tuple[str | None, ...] = (d.bidPx, d.bidSz, d.askPx, d.askSz, d.open24h, d.high24h,
                                   d.low24h, d.vol24h, d.volCcy24h)  # fmt: skip
    if not numbers.issuperset(opt):  # a new number, "" or None: field by field
        for v in opt:
            if v and v not in numbers and not is_number(v):
                raise _DECLINE
        opt = tuple([v or None for v in opt])  # decode()'s _opt_num: "" -> None
    return (inst_id,
            "" if d.instType is UNSET else d.instType, ts, last, last_sz, *opt,
            received_us)  # fmt: skip


# Record type -> its Normalizer method (the records of the issue 13 channels).
_RECORD_ROWS: dict[type, Callable[[Normalizer, object, int], None]] = {
    OpenInterest: Normalizer.open_interest,  # type: ignore[dict-item]
    PriceLimit: Normalizer.price_limit,  # type: ignore[dict-item]
    EstimatedPrice: Normalizer.estimated_price,  # type: ignore[dict-item]
    LiquidationOrders: Normalizer.liquidations,  # type: ignore[dict-item]
    OptSummary: Normalizer.opt_summary,  # type: ignore[dict-item]
    Instrument: Normalizer.instrument,  # type: ignore[dict-item]
    SystemStatus: Normalizer.status,  # type: ignore[dict-item]
}

# channel -> fast handler. Plain functions, not bound methods stored on the instance:
# those would make every Pipeline a reference cycle that only the cyclic GC can free.
FastHandler = Callable[[Pipeline, FastArg, FastFrame, int], None]
_FAST_HANDLERS: dict[str, FastHandler] = {
    "books": Pipeline._fast_books,
    "books-l2-tbt": Pipeline._fast_books,
    "books50-l2-tbt": Pipeline._fast_books,
    "books5": Pipeline._fast_bbo,
    "bbo-tbt": Pipeline._fast_bbo,
    "trades": Pipeline._fast_trades,
    "trades-all": Pipeline._fast_trades,
    "tickers": Pipeline._fast_tickers,
}
