#!/usr/bin/env python3
"""Run the data-quality checks (files/sql/checks) on an embedded ClickHouse (chdb).

    make quality DB=~/hft-db [ARGS="--as-of '2026-12-07 12:00:00' --window-hours 6"]
    python scripts/quality-check.py --db ~/hft-db --json

The same engine as the okx_hft.infra.clickhouse_data_quality module (a server). Exit
status: 0 every check within its threshold, 1 a check over it, 2 the checks could not
run (bad option, missing database). The offending rows of each failed check are
printed (the first --max-rows of them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import clickhouse
import migrations
import quality


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="chdb database directory")
    parser.add_argument("--checks-dir", type=Path, default=ROOT / "files" / "sql" / "checks")
    parser.add_argument("--check", action="append", default=[], help="run only this check")
    parser.add_argument("--data-database", default="hft_data")
    parser.add_argument("--analytics-database", default="hft_analytics")
    parser.add_argument("--as-of", help="end of the window, UTC (default: now)")
    parser.add_argument("--since", help="start of the window, UTC (default: as-of - hours)")
    parser.add_argument("--window-hours", type=float, default=24.0)
    parser.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                        help=f"a check limit: {', '.join(quality.DEFAULT_LIMITS)}")  # fmt: skip
    parser.add_argument("--threshold", action="append", default=[], metavar="CHECK=N",
                        help="offending rows a check tolerates")  # fmt: skip
    parser.add_argument("--max-rows", type=int, default=20, help="offending rows shown")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise quality.QualityError(f"{what} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from chdb import session
    except ImportError:
        print("chdb is missing: pip install chdb-core (make venv installs it)", file=sys.stderr)
        return 2
    if not args.db.is_dir():
        print(f"error: {args.db} is not a chdb directory (make schema-dev DB=...)", file=sys.stderr)
        return 2
    db = session.Session(str(args.db))
    try:
        checks = quality.select(quality.discover(args.checks_dir), args.check)
        base = migrations.default_variables(args.data_database, args.analytics_database)
        win = quality.window(args.as_of, args.window_hours, args.since)
        values = quality.variables(base, win, pairs(args.limit, "--limit"))
        thresholds = {k: int(v) for k, v in pairs(args.threshold, "--threshold").items()}
        results = quality.run(clickhouse.ChdbExecutor(db), checks, values, args.max_rows,
                              thresholds)  # fmt: skip
    except (quality.QualityError, migrations.MigrationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(f"window {values['since']} .. {values['until']} UTC")
        print(quality.report(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
