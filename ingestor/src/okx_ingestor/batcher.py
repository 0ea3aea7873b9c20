"""Rows -> per-table batches, flushed by row count or by age, each with a dedup token.

The token is a deterministic hash of the batch content (table + rows), so a retried
insert of the same batch carries the same `insert_deduplication_token` and ClickHouse
stores it once.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import orjson

Row = tuple[object, ...]


@dataclass(slots=True)
class Batch:
    table: str  # "<database>.<table>"
    rows: list[Row]
    token: str  # "" until ensure_token(): hashing runs off the per-message path
    created_us: int  # wall clock µs when the first row entered the batch

    def ensure_token(self) -> str:
        if not self.token:
            self.token = batch_token(self.table, self.rows)
        return self.token

    def encode(self) -> bytes:
        self.ensure_token()
        return orjson.dumps(
            {
                "table": self.table,
                "token": self.token,
                "created_us": self.created_us,
                "rows": self.rows,
            }
        )

    @classmethod
    def decode(cls, payload: bytes) -> Batch:
        obj = orjson.loads(payload)
        return cls(obj["table"], [tuple(r) for r in obj["rows"]], obj["token"], obj["created_us"])


def split_unencodable(batch: Batch) -> list[Row]:
    """Take out the rows that cannot be encoded (e.g. an int beyond 64 bits, which orjson
    refuses) and return them; the batch keeps the others and gets its token. Only called
    after encoding the whole batch failed, so the usual batch pays nothing for it."""
    good, bad = [], []
    dumps = orjson.dumps
    for row in batch.rows:
        try:
            dumps(row)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            bad.append(row)
        else:
            good.append(row)
    batch.rows = good
    batch.token = ""
    batch.ensure_token()
    return bad


def batch_token(table: str, rows: list[Row]) -> str:
    """Deterministic content hash: same table and rows -> same token."""
    h = hashlib.blake2b(table.encode(), digest_size=16)
    h.update(b"\0")
    h.update(orjson.dumps(rows))
    return h.hexdigest()


class Batcher:
    """`add(table, row)`; full batches go to `deliver(batch)` at once, old ones on `poll()`."""

    # add() runs once per row: slots make its attribute reads cheaper.
    __slots__ = (
        "_clock_us",
        "_rows",
        "_started",
        "batches_out",
        "deliver",
        "max_interval_us",
        "max_rows",
        "rows_in",
    )

    def __init__(
        self,
        deliver: Callable[[Batch], None],
        *,
        max_rows: int = 50_000,
        max_interval_s: float = 1.0,
        clock_us: Callable[[], int] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("batch max_rows must be >= 1")
        if max_interval_s <= 0:
            raise ValueError("batch max_interval_s must be > 0")
        self.deliver = deliver
        self.max_rows = max_rows
        self.max_interval_us = int(max_interval_s * 1e6)
        self._clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self._rows: dict[str, list[Row]] = {}
        self._started: dict[str, int] = {}
        self.rows_in: Counter[str] = Counter()
        self.batches_out: Counter[str] = Counter()

    def add(self, table: str, row: Row) -> None:
        rows = self._rows.get(table)
        if rows:  # the usual case: a batch is open for this table
            rows.append(row)
            if len(rows) >= self.max_rows:
                self._flush_table(table)
            return
        if rows is None:
            rows = self._rows[table] = []
        self._started[table] = self._clock_us()
        rows.append(row)
        if len(rows) >= self.max_rows:
            self._flush_table(table)

    def poll(self) -> int:
        """Flush tables whose oldest pending row is older than the interval."""
        now = self._clock_us()
        flushed = 0
        for table, rows in self._rows.items():
            if rows and now - self._started[table] >= self.max_interval_us:
                self._flush_table(table)
                flushed += 1
        return flushed

    def flush(self) -> int:
        """Flush everything pending (shutdown)."""
        flushed = 0
        for table, rows in self._rows.items():
            if rows:
                self._flush_table(table)
                flushed += 1
        return flushed

    def pending_rows(self) -> int:
        return sum(len(r) for r in self._rows.values())

    def _flush_table(self, table: str) -> None:
        rows = self._rows[table]
        self._rows[table] = []
        self.rows_in[table] += len(rows)
        self.batches_out[table] += 1
        # The dedup token is computed by the writer (Batch.ensure_token), not here.
        self.deliver(Batch(table, rows, "", self._started[table]))
