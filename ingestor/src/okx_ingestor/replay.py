"""Replay JSON lines of raw OKX messages through the live pipeline into a JSON file."""

from __future__ import annotations

from pathlib import Path

import orjson

from .pipeline import Pipeline
from .quarantine import Quarantine
from .schema import TABLES, row_to_json


def replay_file(
    src: Path,
    dst: Path,
    *,
    database: str = "hft_data",
    book_levels: bool = True,
    quarantine_path: Path | None = None,
    inst_ids: list[str] | None = None,
) -> dict[str, object]:
    """Write `{"table": "<db.table>", "row": {...}}` per row; return the summary.

    A frame that fails a check, or a row that cannot be written, is quarantined (counted
    in the summary's `quarantined`, and a line in `quarantine_path` when given); the
    replay goes on with the next one. `inst_ids` (the recording's subscription): a push
    for any other instId is quarantined (`unsubscribed_inst_id`), as in the service.
    """
    quarantine = Quarantine(quarantine_path)
    with src.open("rb") as fin, dst.open("wb") as fout:
        write = fout.write
        dumps = orjson.dumps

        def emit(table: str, row: tuple[object, ...]) -> None:
            spec = TABLES[table.rpartition(".")[2]]
            try:
                line = dumps({"table": table, "row": row_to_json(spec, row)})
            except (ValueError, TypeError, OverflowError) as exc:  # JSONEncodeError: a TypeError
                quarantine.rows("unwritable_row", table, [row], repr(exc))
                return
            write(line)
            write(b"\n")

        pipeline = Pipeline(emit, database=database, book_levels=book_levels,
                            quarantine=quarantine, inst_ids=inst_ids)  # fmt: skip
        lines = 0
        for line in fin:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            lines += 1
            pipeline.process(line)
    quarantine.close()
    summary = pipeline.summary()
    summary["input_lines"] = lines
    return summary
