#!/usr/bin/env python3
"""Run time of the data-quality checks (files/sql/checks) on N ticks, embedded ClickHouse.

    python bench/quality_checks.py [--ticks 10000000] [--instruments 20]

Builds a chdb directory with files/sql, N trades spread over the instruments (one
every 10 ms each, so 10 M ticks over 20 instruments are 83 minutes of data), their
candles (the materialized views run on insert), and the same clean book, bbo and
tickers data the tests use, plus one trade gap; then times each check over a window
that holds every tick, and one scan of raw_ticks over it (sums of three columns) as the
reference (the cost of reading the window once on this machine). Prints each check's seconds and
its ratio to the reference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests" / "unit")]

import clickhouse
import migrations
import quality
import quality_dataset as ds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--instruments", type=int, default=20)
    args = parser.parse_args()
    from chdb import session

    per_inst = args.ticks // args.instruments
    hours = per_inst * 10 / 3_600_000 + 1
    with tempfile.TemporaryDirectory(prefix="okx-quality-bench-") as tmp:
        s = session.Session(tmp)
        db = clickhouse.ChdbExecutor(s)
        options = migrations.Options(ROOT / "files/sql", variables=migrations.default_variables())
        migrations.migrate(db, options)
        t0 = time.monotonic()
        for k in range(args.instruments):
            ds.trades(db, f"I{k:03d}-USDT", first_id=10_000_000 * (k + 1), n=per_inst,
                      step_ms=10, end_ms=1000)  # fmt: skip
        ds.clean(db, trades_per_instrument=3000)
        ds.trade_gap(db)
        load_s = time.monotonic() - t0
        total = int(db.query("SELECT count() FROM hft_data.raw_ticks")[0][0])
        print(f"loaded {total:,} ticks ({args.instruments} instruments, {hours:.1f} h) "
              f"in {load_s:.1f} s")  # fmt: skip

        win = quality.window(ds.AS_OF, hours=hours)
        values = quality.variables(migrations.default_variables(), win)
        t0 = time.monotonic()
        db.query(
            "SELECT sum(trade_id), sum(size), max(received_at) FROM hft_data.raw_ticks WHERE ts >= "
            f"toDateTime64('{values['since']}', 3, 'UTC') AND ts < "
            f"toDateTime64('{values['until']}', 3, 'UTC')"
        )
        reference = time.monotonic() - t0
        print(f"reference: one scan of the window (sum of 3 columns) {reference:.3f} s")
        t0 = time.monotonic()
        results = quality.run(db, quality.discover(ROOT / "files/sql/checks"), values)
        all_s = time.monotonic() - t0
        for r in results:
            seconds = r.duration_ms / 1000
            print(f"{r.name:<22} {seconds:7.2f} s  {seconds / reference:7.1f}x  "
                  f"offending {r.offending}")  # fmt: skip
        rate = total / all_s / 1e6
        print(f"all checks: {all_s:.2f} s for {total:,} ticks ({rate:.1f} M ticks/s), "
              f"{all_s / reference:.1f}x the reference")  # fmt: skip
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
