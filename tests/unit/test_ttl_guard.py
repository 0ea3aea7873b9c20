"""ttl_raw_days / ttl_agg_days must stay within ClickHouse's DateTime range (< 29000)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import migrations


class UnusedExecutor:
    def execute(self, sql: str) -> None:
        raise AssertionError("the guard must fail before any SQL runs")

    def query(self, sql: str) -> list[tuple]:
        raise AssertionError("the guard must fail before any SQL runs")


@pytest.mark.parametrize("days", [1, 30, 10000, 28999, "28999"])
def test_ttl_in_range_passes(days):
    migrations.check_ttl_days({"ttl_raw_days": days, "ttl_agg_days": days})


@pytest.mark.parametrize(
    ("name", "days", "message"),
    [
        ("ttl_raw_days", 29000, "ttl_raw_days = 29000 is out of range: use 1-28999 days"),
        ("ttl_raw_days", 0, "ttl_raw_days = 0 is out of range"),
        ("ttl_agg_days", -5, "ttl_agg_days = -5 is out of range"),
        ("ttl_raw_days", "30d", "ttl_raw_days must be a whole number of days, got '30d'"),
    ],
)
def test_ttl_out_of_range_names_the_variable(name, days, message):
    with pytest.raises(migrations.VariableError, match=message):
        migrations.check_ttl_days({name: days})


def test_migrate_checks_before_touching_the_server(tmp_path):
    variables = {**migrations.default_variables(), "ttl_raw_days": "100000"}
    options = migrations.Options(path=tmp_path, variables=variables, check_mode=True)
    with pytest.raises(migrations.VariableError, match="ttl_raw_days = 100000"):
        migrations.migrate(UnusedExecutor(), options)
