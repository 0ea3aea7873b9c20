"""`make schema-dev DB=PATH`: files/sql applied to an embedded chdb directory, then
nothing on the second run. Runs the script in a subprocess (chdb allows one database
path per process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "schema-dev.py"

pytest.importorskip("chdb", reason="pip install chdb-core")


def schema_dev(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_schema_dev_applies_files_sql_once(tmp_path):
    db = tmp_path / "hft-db"
    latest = sorted(p.name for p in (ROOT / "files" / "sql").glob("[0-9]*.sql"))[-1]
    check = schema_dev("--db", str(db), "--check")
    assert check.returncode == 0, check.stderr
    assert f"pending {latest}" in check.stdout

    first = schema_dev("--db", str(db))
    assert first.returncode == 0, first.stderr
    assert f"applied {latest}" in first.stdout

    second = schema_dev("--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "applied" not in second.stdout
    assert f"schema version {int(latest[:4])}" in second.stdout


def test_schema_dev_reports_an_unknown_variable_clearly(tmp_path):
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "0001_x.sql").write_text("CREATE DATABASE IF NOT EXISTS ${db_dta}")
    done = schema_dev("--db", str(tmp_path / "db"), "--sql", str(sql))
    assert done.returncode == 1
    assert "0001_x.sql line 1: unknown variable ${db_dta}" in done.stderr
