"""The newest tradeId stored per instrument, on disk: where a restart's backfill begins.

The writer thread updates it after a `raw_ticks` batch reached every sink (or the sink's
spool, which survives a crash), so a mark never runs ahead of what is stored: after
`kill -9` the trades above it - the open batch included - are fetched again from OKX's
REST history (service._backfill_stream). Written as a temporary file, fsync'd, then
renamed: a crash leaves the old mark or the new one, never half a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

log = logging.getLogger("okx_ingestor.marks")


class TradeMarks:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: dict[str, int] = self._load()
        self.write_errors = 0

    def _load(self) -> dict[str, int]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("trade marks unreadable; no backfill at this start",
                        extra={"path": str(self.path), "error": str(exc)})  # fmt: skip
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and type(v) is int}

    def update(self, rows: Iterable[Sequence[object]]) -> None:
        """raw_ticks rows (inst_id, trade_id, ...) delivered: raise the marks, save."""
        marks, changed = self.marks, False
        for row in rows:
            inst, tid = row[0], row[1]
            if type(tid) is int and type(inst) is str and tid > marks.get(inst, -1):
                marks[inst] = tid
                changed = True
        if changed:
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                fh.write(orjson.dumps(self.marks))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.error("cannot write the trade marks; a restart may miss trades",
                          extra={"path": str(self.path), "error": str(exc)})  # fmt: skip
