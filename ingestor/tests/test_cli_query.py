"""`okx-ingestor query --chdb PATH SQL` (subprocesses: chdb allows one path per process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "okx_ingestor.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_query_reads_a_chdb_directory(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    db = tmp_path / "chdb"
    setup = (
        f"from chdb import session; s = session.Session({str(db)!r}); "
        "s.query('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x'); "
        "s.query('INSERT INTO t VALUES (1), (2)'); s.close()"
    )
    subprocess.run([sys.executable, "-c", setup], check=True, timeout=120)
    done = cli("query", "--chdb", str(db), "SELECT count(), sum(x) FROM t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "3"]
    bad = cli("query", "--chdb", str(db), "SELECT * FROM nosuch")
    assert bad.returncode == 1 and "query failed" in bad.stderr


def test_query_without_directory_says_so(tmp_path: Path) -> None:
    done = cli("query", "--chdb", str(tmp_path / "none"), "SELECT 1")
    assert done.returncode == 2 and "no chdb directory" in done.stderr
