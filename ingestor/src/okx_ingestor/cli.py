"""`okx-ingestor` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _replay(args: argparse.Namespace) -> int:
    from .replay import replay_file

    summary = replay_file(Path(args.input), Path(args.output), database=args.database,
                          book_levels=not args.no_book_levels)  # fmt: skip
    import orjson

    sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .recording import convert_recording

    count = convert_recording(Path(args.input), Path(args.output))
    sys.stdout.write(f'{{"messages": {count}}}\n')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="okx-ingestor", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="run recorded raw OKX messages through the pipeline")
    p.add_argument("--input", required=True, help="JSON lines of raw OKX WebSocket messages")
    p.add_argument("--output", required=True, help="where to write {table, row} JSON lines")
    p.add_argument("--database", default="hft_data")
    p.add_argument("--no-book-levels", action="store_true",
                   help="do not write book_updates rows (one per level)")  # fmt: skip
    p.set_defaults(func=_replay)

    p = sub.add_parser(
        "convert-recording", help="cryptofeed-style recording (TS: JSON) -> plain JSON lines"
    )
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FileNotFoundError as exc:
        sys.stderr.write(f"okx-ingestor: file not found: {exc.filename}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
