"""Convert cryptofeed-style recordings (the 2022 OKX sample) into plain JSON lines.

Recording format: lines starting with the URL are the client's side and are skipped;
every other line is `TS: JSON`, a message OKX pushed. Output: the JSON text only,
one message per line, exactly as OKX pushed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path


def recording_messages(lines: Iterable[str]) -> Iterator[str]:
    """Yield the raw server->client messages of a recording."""
    for line in lines:
        line = line.rstrip("\n")
        if not line or line.startswith(("wss://", "ws://", "http://", "https://")):
            continue
        ts, sep, payload = line.partition(": ")
        if not sep:
            continue
        try:
            float(ts)
        except ValueError:
            continue
        yield payload


def convert_recording(src: Path, dst: Path) -> int:
    """Write the pushed messages of `src` to `dst` as JSON lines; return the count."""
    count = 0
    with src.open(encoding="utf-8") as fin, dst.open("w", encoding="utf-8") as fout:
        for payload in recording_messages(fin):
            fout.write(payload + "\n")
            count += 1
    return count
