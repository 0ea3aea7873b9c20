"""Per-instrument L2 books with OKX's seqId/prevSeqId rules and CRC32 checksum.

State machine per book (pure: no I/O; the caller fetches REST snapshots):

    EMPTY ──ws snapshot──▶ LIVE ──gap / checksum failure──▶ RESYNC
      │                     ▲                                  │
      └──update (no ws snapshot yet)──▶ BUFFERING ──feed_snapshot()──┘

- LIVE: every update must chain (prevSeqId == last seqId). A heartbeat has
  seqId == prevSeqId and no levels. A documented sequence reset has seqId < prevSeqId
  (prevSeqId still chains) and is accepted and counted.
- A duplicate (the same push from the other of two overlapping sockets) lies inside the
  current chain: chain_floor <= prevSeqId <= seqId <= last seqId, where chain_floor is
  the seqId the chain started from (its snapshot, or its last reset). Anything else
  that does not chain is a gap, in particular the first push after a *missed* reset
  (seqIds start again far below the chain: prevSeqId < chain_floor), which the older
  rule (prevSeqId < last and prevSeqId <= seqId <= last) took for a duplicate and so
  froze the book until the new chain caught up with the old seqIds.
- On a gap or a checksum mismatch the book is dropped (counted) and goes to
  BUFFERING: updates are buffered (bounded) until a snapshot arrives, either a WS
  `action: snapshot` or a REST /api/v5/market/books snapshot fed with
  `feed_snapshot()` following OKX's procedure (drop buffered seqId <= snapshot seqId;
  the first applied update must satisfy prevSeqId <= snapshot seqId < seqId).
- The checksum is verified when non-zero and ignored when 0 (OKX fixed it to 0 in
  June 2026). Messages without seqId (OKX before 2022-H2) skip continuity checks.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from operator import itemgetter

from ._levels import interleaved_payload
from .decoder import BookData
from .speedups import checksum_payload, side_apply, side_load

CHECKSUM_DEPTH = 25
_PX_SZ = itemgetter(0, 1)  # a stored level -> (px, sz)
_NO_LEVEL = ("0", "0")  # an empty side, as the bbo row writes it
DEFAULT_BUFFER_LIMIT = 10_000


def same_price(a: str, b: str) -> bool:
    """Two price strings with one float key: the same price ("1.50" and "1.5")?"""
    return Decimal(a) == Decimal(b)


class BookState(Enum):
    EMPTY = "empty"
    LIVE = "live"
    BUFFERING = "buffering"


class Outcome(Enum):
    """What apply() did with one push; the caller counts and reacts."""

    SNAPSHOT = "snapshot"
    APPLIED = "applied"
    HEARTBEAT = "heartbeat"
    RESET = "reset"  # documented sequence reset, applied
    BUFFERED = "buffered"  # waiting for a snapshot
    DUPLICATE = "duplicate"  # already applied (overlapping connections); ignored
    GAP = "gap"  # book dropped; caller must resync (resubscribe or REST snapshot)
    CHECKSUM_FAILED = "checksum_failed"  # book dropped; caller must resync
    BAD_LEVEL = "bad_level"  # unparsable level; book dropped
    CROSSED = "crossed"  # best bid >= best ask after a push (integrity check); dropped


class SnapshotResult(Enum):
    LIVE = "live"  # snapshot applied, buffered updates replayed
    REFETCH = "refetch"  # snapshot older than the buffer, or buffer does not chain


# Module constants: looking up Enum members on the class costs ~0.2 µs each time.
_SNAPSHOT, _APPLIED, _HEARTBEAT, _RESET = (
    Outcome.SNAPSHOT,
    Outcome.APPLIED,
    Outcome.HEARTBEAT,
    Outcome.RESET,
)
_BUFFERED, _DUPLICATE, _GAP = Outcome.BUFFERED, Outcome.DUPLICATE, Outcome.GAP
_CHECKSUM_FAILED, _BAD_LEVEL = Outcome.CHECKSUM_FAILED, Outcome.BAD_LEVEL
_LIVE, _BUFFERING, _EMPTY_STATE = BookState.LIVE, BookState.BUFFERING, BookState.EMPTY


@dataclass(slots=True)
class BookCounters:
    snapshots: int = 0
    updates: int = 0
    heartbeats: int = 0
    duplicates: int = 0
    gaps: int = 0
    resets: int = 0
    resyncs: int = 0
    checksum_ok: int = 0
    checksum_failures: int = 0
    checksum_skipped: int = 0
    buffered_dropped: int = 0
    bad_levels: int = 0
    crossed: int = 0  # best bid > best ask found by check_top(); book dropped
    locked: int = 0  # best bid == best ask found by check_top(); book dropped


class _Side:
    """One side of the book: price key -> the level as OKX sent it, exact strings kept.

    The level object itself is stored (a decoded [px, sz, ...] tuple or list), not a new
    (px, sz) pair: one allocation less per level, and it is alive anyway in the row.

    The key is float(price), used only to order and find levels (hashing and comparing
    floats is several times cheaper than Decimal). Distinct decimal prices of up to 15
    significant digits map to distinct floats in the same order; OKX prices have fewer.
    Should two different prices ever share a key, the exact Decimal comparison catches
    it and the book is dropped and resynchronised (BAD_LEVEL), never silently merged.
    Keys are kept ascending in a list (bisect: a 400-level book is never re-sorted, and
    the top 25 for the checksum are a slice); `descending` (bids) reads from the end.
    """

    __slots__ = ("_descending", "_keys", "_levels")

    def __init__(self, descending: bool) -> None:
        self._descending = descending
        self._keys: list[float] = []
        self._levels: dict[float, Sequence[str]] = {}

    def clear(self) -> None:
        self._keys.clear()
        self._levels.clear()

    # Updates go straight to speedups.side_apply (L2Book.update): no method per side.

    def load(self, levels: Sequence[Sequence[str]]) -> None:
        """A whole snapshot into an empty side: side_apply()'s rules, but the keys are
        sorted once at the end instead of 400 bisect insertions."""
        self._keys = side_load(self._levels, levels, same_price)

    def top(self, n: int) -> list[tuple[str, str]]:
        """The best `n` levels as (px, sz), best first."""
        keys = self._keys[: -n - 1 : -1] if self._descending else self._keys[:n]
        return list(map(_PX_SZ, map(self._levels.__getitem__, keys)))

    def best(self) -> tuple[str, str] | None:
        keys = self._keys
        if not keys:
            return None
        level = self._levels[keys[-1] if self._descending else keys[0]]
        return level[0], level[1]

    def __len__(self) -> int:
        return len(self._keys)


def okx_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """OKX's CRC32: interleave top-25 bid/ask `px:sz` strings, signed 32-bit.

    Levels are (px, sz, ...) sequences, best first; fields after the size are ignored.
    """
    return _signed_crc32(interleaved_payload(bids, asks))


def _signed_crc32(payload: bytes) -> int:
    crc = zlib.crc32(payload)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


@dataclass(slots=True)  # slots: attribute access on the per-update path
class L2Book:
    inst_id: str
    channel: str = "books"
    buffer_limit: int = DEFAULT_BUFFER_LIMIT
    verify_checksum: bool = True
    state: BookState = _EMPTY_STATE
    last_seq_id: int | None = None
    chain_floor: int | None = None  # seqId the current chain started from (see above)
    last_ts: int = 0
    counters: BookCounters = field(default_factory=BookCounters)
    _bids: _Side = field(default_factory=lambda: _Side(descending=True))
    _asks: _Side = field(default_factory=lambda: _Side(descending=False))
    _buffer: list[BookData] = field(default_factory=list)
    replayed: list[BookData] = field(default_factory=list)  # applied by feed_snapshot()
    # The last top_of_book() emitted as a bbo row (the normalizer emits only changes).
    last_top: tuple[str, str, str, str] | None = None

    # -- queries -------------------------------------------------------------------
    def best_bid(self) -> tuple[str, str] | None:
        return self._bids.best()

    def best_ask(self) -> tuple[str, str] | None:
        return self._asks.best()

    def top_of_book(self) -> tuple[str, str, str, str]:
        """(bid px, bid sz, ask px, ask sz), "0" for an empty side, in one call. The
        strings are the book's own, so an unchanged top compares by identity."""
        bk, ak = self._bids._keys, self._asks._keys
        bid = self._bids._levels[bk[-1]] if bk else _NO_LEVEL
        ask = self._asks._levels[ak[0]] if ak else _NO_LEVEL
        return bid[0], bid[1], ask[0], ask[1]

    def check_top(self) -> str | None:
        """ "crossed" (best bid > best ask) or "locked" (equal) for a LIVE book, else None.

        With OKX's checksum fixed to 0 (June 2026) this is what still catches a corrupt
        book (a missed delete leaves a level on the wrong side of the spread). Counted;
        the caller drops the book and resynchronises. Two list lookups and a float
        comparison (the keys), the exact Decimal only when the floats are equal.
        """
        bk, ak = self._bids._keys, self._asks._keys
        if self.state is not _LIVE or not bk or not ak or bk[-1] < ak[0]:
            return None
        if bk[-1] > ak[0]:
            kind = "crossed"
            self.counters.crossed += 1
        else:
            bid, ask = self._bids._levels[bk[-1]], self._asks._levels[ak[0]]
            if Decimal(bid[0]) < Decimal(ask[0]):
                return None  # two prices beyond float precision
            kind = "crossed" if Decimal(bid[0]) > Decimal(ask[0]) else "locked"
            setattr(self.counters, kind, getattr(self.counters, kind) + 1)
        return kind

    def top(self, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        return self._bids.top(n), self._asks.top(n)

    def depth(self) -> tuple[int, int]:
        return len(self._bids), len(self._asks)

    def checksum(self) -> int:
        bids, asks = self._bids, self._asks
        return _signed_crc32(  # okx_checksum() of the stored levels, built in one call
            checksum_payload(bids._keys, bids._levels, asks._keys, asks._levels, CHECKSUM_DEPTH)
        )

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def first_buffered_prev_seq_id(self) -> int | None:
        return self._buffer[0].prev_seq_id if self._buffer else None

    # -- feeding -------------------------------------------------------------------
    def apply(self, data: BookData, action: str | None) -> Outcome:
        """Apply one WS push (`action` from the message; None = full snapshot)."""
        if action != "update" or data.prev_seq_id == -1:
            return self._load_snapshot(data)
        if self.state is not _LIVE:
            self._buffer_update(data)
            return _BUFFERED
        return self._apply_update(data)

    def feed_snapshot(self, snapshot: BookData) -> SnapshotResult:
        """Apply a REST /market/books snapshot to a BUFFERING book (OKX's procedure)."""
        snap_seq = snapshot.seq_id
        buffered = self._buffer
        if snap_seq is None:
            raise ValueError("a REST snapshot for the buffering procedure needs seqId")
        first_prev = buffered[0].prev_seq_id if buffered else None
        if first_prev is not None and snap_seq < first_prev:
            return SnapshotResult.REFETCH
        pending = [u for u in buffered if u.seq_id is None or u.seq_id > snap_seq]
        if pending and pending[0].prev_seq_id is not None and pending[0].prev_seq_id > snap_seq:
            return SnapshotResult.REFETCH
        self._buffer = []
        self._load_snapshot(snapshot)
        self.replayed = pending
        for update in pending:
            if self._apply_update(update) in (
                _GAP,
                _CHECKSUM_FAILED,
                _BAD_LEVEL,
            ):
                self._buffer = []
                return SnapshotResult.REFETCH
        return SnapshotResult.LIVE

    def drop(self) -> None:
        """Forget the book and wait for a new snapshot (counted as a resync)."""
        self._bids.clear()
        self._asks.clear()
        self.last_seq_id = None
        self.chain_floor = None
        self.state = _BUFFERING
        self.counters.resyncs += 1

    # -- internals -----------------------------------------------------------------
    def _buffer_update(self, data: BookData) -> None:
        if self.state is _EMPTY_STATE:
            self.state = _BUFFERING
        buffered = self._buffer
        if len(buffered) >= self.buffer_limit:
            del buffered[0]  # oldest first; a REST snapshot will cover it
            self.counters.buffered_dropped += 1
        buffered.append(data)

    def _load_snapshot(self, data: BookData) -> Outcome:
        seq, last = data.seq_id, self.last_seq_id
        # A newer snapshot of the same live chain (another socket's, in a hand-over)
        # keeps the chain's floor, so that socket's older pushes still read as duplicates.
        floor = self.chain_floor
        if self.state is not _LIVE or seq is None or last is None or seq < last or floor is None:
            self.chain_floor = seq
        self._bids.clear()
        self._asks.clear()
        self._buffer = []
        self.counters.snapshots += 1
        if not self._apply_levels(data):
            return _BAD_LEVEL
        self.last_seq_id = data.seq_id
        self.last_ts = data.ts
        self.state = _LIVE
        if not self._checksum_ok(data.checksum):
            return _CHECKSUM_FAILED
        return _SNAPSHOT

    def _apply_update(self, data: BookData) -> Outcome:
        return self.update(
            data.seq_id, data.prev_seq_id, data.bids, data.asks, data.ts, data.checksum
        )

    def update(
        self,
        seq: int | None,
        prev: int | None,
        bids: Sequence[Sequence[str]],
        asks: Sequence[Sequence[str]],
        ts: int,
        checksum: int,
    ) -> Outcome:
        """Apply one update to a LIVE book, from its fields (no BookData on the hot path).

        Callers go through apply() unless the book is LIVE and the push is an update
        with prevSeqId != -1.
        """
        counters = self.counters
        last = self.last_seq_id
        outcome = _APPLIED
        if seq is not None and prev is not None and last is not None:
            if prev != last:
                floor = self.chain_floor
                if floor is not None and floor <= prev <= seq <= last:
                    counters.duplicates += 1  # seen on the other of two overlapping sockets
                    return _DUPLICATE
                counters.gaps += 1  # a missed reset included (prev below the chain)
                self.drop()
                return _GAP
            if seq == prev:
                if not asks and not bids:
                    counters.heartbeats += 1
                    self.last_ts = ts
                    return _HEARTBEAT
            elif seq < prev:
                counters.resets += 1
                self.chain_floor = seq  # a new chain starts here
                outcome = _RESET
        counters.updates += 1
        try:
            if bids:  # _Side.apply, inlined: one Python call less per side
                side = self._bids
                side_apply(side._keys, side._levels, bids, same_price)
            if asks:
                side = self._asks
                side_apply(side._keys, side._levels, asks, same_price)
        except (InvalidOperation, ValueError, IndexError, TypeError):
            counters.bad_levels += 1
            self.drop()
            return _BAD_LEVEL
        if seq is not None:
            self.last_seq_id = seq
        self.last_ts = ts
        if checksum and self.verify_checksum:
            if self.checksum() == checksum:
                counters.checksum_ok += 1
                return outcome
            counters.checksum_failures += 1
            self.drop()
            return _CHECKSUM_FAILED
        counters.checksum_skipped += 1
        return outcome

    def _apply_levels(self, data: BookData) -> bool:
        """A snapshot's levels into the (cleared) sides."""
        try:
            self._bids.load(data.bids)
            self._asks.load(data.asks)
        except (InvalidOperation, ValueError, IndexError, TypeError):
            self.counters.bad_levels += 1
            self.drop()
            return False
        return True

    def _checksum_ok(self, expected: int) -> bool:
        if expected == 0 or not self.verify_checksum:
            self.counters.checksum_skipped += 1
            return True
        if self.checksum() == expected:
            self.counters.checksum_ok += 1
            return True
        self.counters.checksum_failures += 1
        self.drop()
        return False


class BookRegistry:
    """All incremental books, keyed by (channel, instId)."""

    def __init__(
        self, buffer_limit: int = DEFAULT_BUFFER_LIMIT, verify_checksum: bool = True
    ) -> None:
        self.buffer_limit = buffer_limit
        self.verify_checksum = verify_checksum
        self.books: dict[tuple[str, str], L2Book] = {}

    def get(self, channel: str, inst_id: str) -> L2Book:
        key = (channel, inst_id)
        book = self.books.get(key)
        if book is None:
            book = L2Book(
                inst_id,
                channel,
                buffer_limit=self.buffer_limit,
                verify_checksum=self.verify_checksum,
            )
            self.books[key] = book
        return book

    def totals(self) -> BookCounters:
        total = BookCounters()
        for book in self.books.values():
            for name in BookCounters.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(book.counters, name))
        return total
