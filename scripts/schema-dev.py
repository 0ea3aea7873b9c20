#!/usr/bin/env python3
"""Apply files/sql to an embedded ClickHouse (chdb) database directory.

    make schema-dev DB=~/hft-db          # or: python scripts/schema-dev.py --db ~/hft-db

The same migration engine as okx_hft.infra.clickhouse_migrate (ordering, rendering,
splitting, checksums, bookkeeping, lock), so a laptop, the tests and the ingestor's
embedded sink get exactly the production DDL. Running it again applies only new files.
Open the result with chdb: ``chdb.session.Session(PATH)`` (one path per process).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import clickhouse
import migrations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="chdb database directory")
    parser.add_argument("--sql", type=Path, default=ROOT / "files" / "sql", help="migrations")
    parser.add_argument("--database", default="hft_meta", help="bookkeeping database")
    parser.add_argument("--data-database", default="hft_data")
    parser.add_argument("--analytics-database", default="hft_analytics")
    parser.add_argument("--ttl-raw-days", type=int, default=30)
    parser.add_argument("--ttl-agg-days", type=int, default=365)
    parser.add_argument("--target", type=int, help="apply up to this version")
    parser.add_argument("--check", action="store_true", help="list pending files, run nothing")
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="extra ${NAME}"
    )
    return parser.parse_args(argv)


def build_options(args: argparse.Namespace) -> migrations.Options:
    variables = migrations.default_variables(
        data_db=args.data_database,
        analytics_db=args.analytics_database,
        ttl_raw_days=args.ttl_raw_days,
        ttl_agg_days=args.ttl_agg_days,
    )
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--var {item!r}: expected NAME=VALUE")
        variables[name] = value
    return migrations.Options(
        path=args.sql,
        database=args.database,
        variables=variables,
        target=args.target,
        check_mode=args.check,
        lock_timeout=10,
    )


def report(result: migrations.MigrationResult, db: Path) -> None:
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for name in result.applied:
        print(f"applied {name}")
    for name in result.pending:
        print(f"pending {name}")
    print(f"{db}: schema version {result.current_version}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from chdb import session
    except ImportError:
        print("chdb is missing: pip install chdb-core (make venv installs it)", file=sys.stderr)
        return 2
    args.db.mkdir(parents=True, exist_ok=True)
    db = session.Session(str(args.db))
    try:
        result = migrations.migrate(clickhouse.ChdbExecutor(db), build_options(args))
    except migrations.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    report(result, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
