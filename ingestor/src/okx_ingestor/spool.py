"""A bounded, crash-safe, append-only on-disk spool of batches.

Layout: `<dir>/<NNNNNNNNNNNN>.seg` segment files, oldest = smallest number. Each record:

    magic b"OS" | u32 length | u32 crc32(payload) | payload (a Batch, orjson)

Every append is written and fsync'd before append() returns. On open, a torn or corrupt
tail (a crash mid-write) is detected by length/crc, counted, and cut off; everything
before it is kept. Records are replayed oldest first; a segment is deleted only after
all its records were delivered. A replayed batch keeps its dedup token, so a crash
between "delivered" and "deleted" re-sends batches that ClickHouse then ignores.

Shedding policy when the spool reaches `max_bytes` (all counted in `stats`):
 1. Above `high_watermark` (default 90 %) of max_bytes, new batches of the tables in
    `shed_first` (default: book_l2, bbo, tickers, mark_prices, index_tickers) are
    not spooled: trades (raw_ticks) and funding rates keep the remaining space.
 2. At max_bytes, whole oldest segments are deleted until the new batch fits: the most
    recent data is kept, the oldest is lost.
A single batch larger than max_bytes is rejected (counted).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from .batcher import Batch

MAGIC = b"OS"
HEADER = struct.Struct("<2sII")
DEFAULT_SHED_FIRST = frozenset({"book_l2", "bbo", "tickers", "mark_prices", "index_tickers"})


@dataclass
class SpoolStats:
    appended_batches: int = 0
    appended_rows: int = 0
    replayed_batches: int = 0
    shed_batches: int = 0
    shed_rows: int = 0
    shed_segments: int = 0
    rejected_too_large: int = 0
    corrupt_tails: int = 0


def _frame(payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _write(path: Path, data: bytes, flags: int, fsync: bool) -> None:
    """One write of `data` to `path` (opened with `flags`, mode 0600), fsync'd if asked."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make a file created or renamed in `directory` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: Path) -> tuple[list[bytes], int]:
    """Valid records of a segment and the byte offset where validity ends."""
    data = path.read_bytes()
    records: list[bytes] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        magic, length, crc = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if magic != MAGIC or end > len(data):
            break
        payload = data[pos + HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        records.append(payload)
        pos = end
    return records, pos


def _record_end(path: Path, offset: int) -> int:
    """Where the record that starts at `offset` ends (the next one starts)."""
    with path.open("rb") as fh:
        fh.seek(offset)
        _, length, _ = HEADER.unpack(fh.read(HEADER.size))
    return offset + HEADER.size + length


def iter_records(path: Path, skip: int = 0, offset: int = 0) -> Iterator[bytes]:
    """Valid records of a segment from byte `offset` (a record boundary), skipping the
    first `skip` of them, read one frame at a time (segments can be large)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offset)
        index = 0
        while True:
            header = fh.read(HEADER.size)
            if len(header) < HEADER.size:
                return
            magic, length, crc = HEADER.unpack(header)
            if magic != MAGIC:
                return
            if index < skip:
                fh.seek(length, os.SEEK_CUR)
                index += 1
                continue
            payload = fh.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            index += 1
            yield payload


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int | None = None,
        high_watermark: float = 0.9,
        shed_first: frozenset[str] = DEFAULT_SHED_FIRST,
        fsync: bool = True,
    ) -> None:
        if segment_bytes is None:
            segment_bytes = max(1, min(64 << 20, max_bytes // 8))
        if segment_bytes > max_bytes:
            raise ValueError("spool segment_bytes must not exceed max_bytes")
        self.dir = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.high_watermark = high_watermark
        self.shed_first = shed_first
        self.fsync = fsync
        self.stats = SpoolStats()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._segments: list[Path] = sorted(self.dir.glob("*.seg"))
        # Segment numbers only grow (not back to 1 when the spool empties): a record's
        # (segment, index), as head() gives it, then never names a newer record.
        self._next_number = int(self._segments[-1].stem) + 1 if self._segments else 1
        self._sizes: dict[Path, int] = {}
        self._counts: dict[Path, int] = {}  # valid records per segment
        self._delivered: dict[Path, int] = {}  # records already replayed, per segment
        self._read_pos: dict[Path, int] = {}  # byte offset of the first undelivered one
        for seg in list(self._segments):
            self._repair(seg)
            if self._counts[seg] == 0:
                self._forget(seg)

    # -- state -------------------------------------------------------------------------
    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return sum(self._counts[s] - self._delivered.get(s, 0) for s in self._segments)

    def empty(self) -> bool:
        return not self._segments

    # -- writing -----------------------------------------------------------------------
    def append(self, batch: Batch) -> bool:
        """Persist one batch (fsync'd); False if the shedding policy dropped it."""
        frame = _frame(batch.encode())
        if len(frame) > self.max_bytes:
            self.stats.rejected_too_large += 1
            self._shed(batch)
            return False
        short = batch.table.rpartition(".")[2]
        if short in self.shed_first and self.bytes + len(frame) > self.high_watermark * (
            self.max_bytes
        ):
            self._shed(batch)
            return False
        while self.bytes + len(frame) > self.max_bytes and self._segments:
            self._drop_oldest_segment()
        seg = self._writable_segment(len(frame))
        _write(seg, frame, os.O_APPEND, self.fsync)
        self._sizes[seg] += len(frame)
        self._counts[seg] += 1
        self.stats.appended_batches += 1
        self.stats.appended_rows += len(batch.rows)
        return True

    def _shed(self, batch: Batch) -> None:
        self.stats.shed_batches += 1
        self.stats.shed_rows += len(batch.rows)

    def _writable_segment(self, size: int) -> Path:
        if self._segments:
            last = self._segments[-1]
            if self._sizes[last] + size <= self.segment_bytes:
                return last
        number = self._next_number
        self._next_number += 1
        seg = self.dir / f"{number:012d}.seg"
        self._segments.append(seg)
        self._sizes[seg] = 0
        self._counts[seg] = 0
        if self.fsync:
            _fsync_dir(self.dir)
        return seg

    def _drop_oldest_segment(self) -> None:
        seg = self._segments[0]
        records, _ = read_records(seg)
        lost = records[self._delivered.get(seg, 0) :]
        self.stats.shed_segments += 1
        self.stats.shed_batches += len(lost)
        self.stats.shed_rows += sum(len(Batch.decode(r).rows) for r in lost)
        self._forget(seg)

    def _forget(self, seg: Path) -> None:
        self._segments.remove(seg)
        for table in (self._sizes, self._counts, self._delivered, self._read_pos):
            table.pop(seg, None)
        seg.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------
    def peek(self) -> Iterator[Batch]:
        """Undelivered batches, oldest first (acknowledge each with `ack()`)."""
        for seg in list(self._segments):
            for payload in iter_records(seg, offset=self._read_pos.get(seg, 0)):
                yield Batch.decode(payload)

    def head(self) -> tuple[Path, int, bytes] | None:
        """The oldest undelivered record as (segment, index, payload), or None; confirm
        it with ack_head(segment, index) once delivered."""
        for seg in list(self._segments):
            for payload in iter_records(seg, offset=self._read_pos.get(seg, 0)):
                return seg, self._delivered.get(seg, 0), payload
        return None

    def ack_head(self, seg: Path, index: int) -> None:
        """ack() the record head() returned, if it is still the oldest undelivered one:
        the shedding policy may have dropped its segment while it was being delivered."""
        if self._segments and self._segments[0] == seg and self._delivered.get(seg, 0) == index:
            self.ack()

    def ack(self) -> None:
        """Mark the oldest undelivered batch delivered; delete fully delivered segments."""
        if not self._segments:
            return
        seg = self._segments[0]
        done = self._delivered.get(seg, 0) + 1
        self.stats.replayed_batches += 1
        if done >= self._counts[seg]:
            self._forget(seg)
        else:
            self._delivered[seg] = done
            self._read_pos[seg] = _record_end(seg, self._read_pos.get(seg, 0))

    # -- recovery ----------------------------------------------------------------------
    def _repair(self, seg: Path) -> None:
        records, valid = read_records(seg)
        self._counts[seg] = len(records)
        self._sizes[seg] = valid
        size = seg.stat().st_size
        if valid < size:
            self.stats.corrupt_tails += 1
            with seg.open("r+b") as fh:
                fh.truncate(valid)
                fh.flush()
                os.fsync(fh.fileno())


class DeadLetter:
    """Batches a sink rejected for good, one file per batch: `<dir>/<token>.json`.

    Each file is `{"sink", "table", "kind", "error", "dead_at_us", "batch": <the batch as
    spooled>}`, written to a temporary name, fsync'd and renamed, so a crash leaves either
    the whole file or nothing. Bounded by `max_bytes`: when full, new rejects are counted
    in `dropped` and not written (the oldest evidence is kept). A batch already there
    (same token) is not written twice. `batch` is the spool record itself
    (`Batch.decode(orjson.dumps(obj["batch"]))`): inspect it with jq, fix the cause
    (schema, type), then re-insert it; its dedup token keeps a re-insert idempotent.
    """

    def __init__(self, directory: Path, *, max_bytes: int = 256 << 20, fsync: bool = True) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bytes = sum(p.stat().st_size for p in self.dir.glob("*.json"))
        self.written = 0
        self.dropped = 0

    def put(self, batch: Batch, *, sink: str, kind: str, error: str, now_us: int) -> bool:
        """Store one rejected batch; False when it was dropped because the directory is full."""
        token = batch.ensure_token()
        path = self.dir / f"{token}.json"
        if path.exists():  # the same batch rejected again (e.g. after a restart): kept once
            self.written += 1
            return True
        body = orjson.dumps(
            {
                "sink": sink,
                "table": batch.table,
                "kind": kind,
                "error": error[:4000],
                "dead_at_us": now_us,
                "batch": orjson.Fragment(batch.encode()),
            }
        )
        if self.bytes + len(body) > self.max_bytes:
            self.dropped += 1
            return False
        tmp = self.dir / f".{token}.tmp"
        _write(tmp, body, os.O_TRUNC, self.fsync)
        os.replace(tmp, path)
        if self.fsync:
            _fsync_dir(self.dir)
        self.bytes += len(body)
        self.written += 1
        return True

    def entries(self) -> Iterator[tuple[Path, dict[str, object]]]:
        """(file, record) of every dead-lettered batch, oldest first."""
        files = sorted(self.dir.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        for path in files:
            yield path, orjson.loads(path.read_bytes())

    def requeue(self, spool: Spool) -> int:
        """Move every dead-lettered batch back into `spool` (same dedup token, so a batch
        that did reach the table is not stored twice). Run it with the instance stopped:
        the spool has one writer."""
        moved = 0
        for path, record in self.entries():
            batch = Batch.decode(orjson.dumps(record["batch"]))
            if not spool.append(batch):
                raise RuntimeError(f"the spool at {spool.dir} is full; {path} was kept")
            size = path.stat().st_size
            path.unlink()
            self.bytes = max(0, self.bytes - size)
            moved += 1
        return moved
