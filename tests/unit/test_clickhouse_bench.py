"""bench/clickhouse_insert.py keeps working (a small run; no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("chdb", reason="pip install chdb-core")


def test_bench_reports_rates_and_storage_for_every_row():
    command = [
        sys.executable, str(ROOT / "bench" / "clickhouse_insert.py"),
        "--rows", "20000", "--batch", "5000", "--repeat", "1", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["storage"]["rows"] == 20000
    assert report["bulk_runs_rows_per_s_with_mvs"][0] > 0
    assert {c["name"] for c in report["storage"]["columns"]} >= {"ts", "price", "size"}
    assert report["aggregate_rows"]["agg_1s"] > 0
