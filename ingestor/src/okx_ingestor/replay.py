"""Replay JSON lines of raw OKX messages through the live pipeline into a JSON file."""

from __future__ import annotations

from pathlib import Path

import orjson

from .pipeline import Pipeline
from .schema import TABLES, row_to_json


def replay_file(
    src: Path, dst: Path, *, database: str = "hft_data", book_levels: bool = True
) -> dict[str, object]:
    """Write `{"table": "<db.table>", "row": {...}}` per row; return the summary."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        write = fout.write
        dumps = orjson.dumps

        def emit(table: str, row: tuple[object, ...]) -> None:
            spec = TABLES[table.rpartition(".")[2]]
            write(dumps({"table": table, "row": row_to_json(spec, row)}))
            write(b"\n")

        pipeline = Pipeline(emit, database=database, book_levels=book_levels)
        lines = 0
        for line in fin:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            lines += 1
            pipeline.process(line)
    summary = pipeline.summary()
    summary["input_lines"] = lines
    return summary
