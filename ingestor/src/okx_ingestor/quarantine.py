"""Messages and rows set aside with a reason, instead of entering a book, a row or a sink.

Each one is counted per reason (`okx_quarantined_total{reason}`), logged once per reason,
and written as a JSON line to the quarantine file (when there is one):

    {"at_us": ..., "reason": "bad_timestamp:ts", "detail": "...", "frame": "<first 2 KiB>"}
    {"at_us": ..., "reason": "unencodable_row", "table": "...", "row": "<repr, 2 KiB>"}

The file is bounded: past `max_bytes` it is renamed to `<name>.1` (the previous `.1` is
dropped) and a new one started. Quarantine never raises: a failing disk only counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import orjson

log = logging.getLogger("okx_ingestor.quarantine")

FRAME_CHARS = 2048  # what is kept of a frame or a row
DEFAULT_MAX_BYTES = 64 << 20


def truncated(value: object, limit: int = FRAME_CHARS) -> str:
    """A frame (str or bytes) or any object as text, at most `limit` characters."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[:limit]).decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        text = value[:limit]
    else:
        text = repr(value)[:limit]
    return text


class Quarantine:
    """Counts per reason; a JSON line per item in `path` (None: count and log only)."""

    def __init__(self, path: Path | None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.counts: Counter[str] = Counter()
        self.write_errors = 0
        self._logged: set[str] = set()
        self._lock = threading.Lock()  # the writer and Redis threads quarantine rows too
        self._fh: BinaryIO | None = None
        self._size = 0

    def message(self, reason: str, detail: str, frame: object) -> None:
        """One frame set aside (a field failed its check, or a stage failed on it)."""
        self._add(reason, {"reason": reason, "detail": detail[:200], "frame": truncated(frame)})

    def rows(self, reason: str, table: str, rows: list[object], detail: str = "") -> None:
        """Rows set aside (a sink or the writer could not take them), one line each."""
        for row in rows:
            self._add(reason, {"reason": reason, "table": table, "detail": detail[:200],
                               "row": truncated(row)})  # fmt: skip

    def total(self) -> int:
        return sum(self.counts.values())

    def _add(self, reason: str, record: dict[str, object]) -> None:
        with self._lock:
            self.counts[reason] += 1
            if reason not in self._logged and len(self._logged) < 1000:
                self._logged.add(reason)
                log.warning(
                    "quarantined (logged once per reason; counted in okx_quarantined_total)",
                    extra={**record, "quarantine_file": str(self.path) if self.path else None},
                )
            if self.path is not None:
                self._write(record)

    def _write(self, record: dict[str, object]) -> None:
        record["at_us"] = time.time_ns() // 1000
        line = orjson.dumps(record) + b"\n"
        try:
            if self._fh is None or self._size + len(line) > self.max_bytes:
                self._rotate()
            assert self._fh is not None
            self._fh.write(line)
            self._fh.flush()
            self._size += len(line)
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.error(
                    "cannot write the quarantine file",
                    extra={"path": str(self.path), "error": str(exc)},
                )

    def _rotate(self) -> None:
        assert self.path is not None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.path.replace(self.path.with_name(self.path.name + ".1"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("ab")
        self._size = self.path.stat().st_size

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
