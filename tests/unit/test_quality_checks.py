"""The data-quality checks (files/sql/checks) on ClickHouse 26.x (chdb, in-process):
a clean dataset passes every check, and each injected defect is reported by its check
with exactly the offending rows, by the engine the module and `make quality` share."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
sys.path.insert(0, str(Path(__file__).parent))

import clickhouse
import migrations
import quality
import quality_dataset as ds

chdb_session = pytest.importorskip("chdb.session", reason="pip install chdb-core")

SQL_DIR = ROOT / "files" / "sql"
CHECKS_DIR = SQL_DIR / "checks"
CHECK_NAMES = [
    "freshness", "duplicate_trade_ids", "trade_id_gaps", "book_sequence_breaks",
    "ohlcv_consistency", "timestamps",
]  # fmt: skip


def run_checks(executor, **kwargs):
    checks = quality.discover(CHECKS_DIR)
    win = quality.window(ds.AS_OF, hours=1)
    values = quality.variables(migrations.default_variables(), win, kwargs.pop("limits", None))
    return {r.name: r for r in quality.run(executor, checks, values, **kwargs)}


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    session = chdb_session.Session(str(tmp_path_factory.mktemp("quality")))
    db = clickhouse.ChdbExecutor(session)
    migrations.migrate(
        db, migrations.Options(path=SQL_DIR, variables=migrations.default_variables())
    )
    ds.clean(db)
    yield db
    session.close()


@pytest.fixture(scope="module")
def clean_results(executor):
    return run_checks(executor)


@pytest.fixture(scope="module")
def dirty_results(executor, clean_results):
    for inject in ds.DEFECTS:
        inject(executor)
    return run_checks(executor, max_rows=50)


def data_quality_module():
    """The module as Ansible loads it: through the checkout linked under .collections."""
    import importlib

    if str(ROOT / ".collections") not in sys.path:
        sys.path.insert(0, str(ROOT / ".collections"))
    return importlib.import_module(
        "ansible_collections.okx_hft.infra.plugins.modules.clickhouse_data_quality"
    )


def rows(result):
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_every_check_file_is_found_in_order():
    assert [c.name for c in quality.discover(CHECKS_DIR)] == CHECK_NAMES


def test_a_clean_dataset_passes_every_check(clean_results):
    assert {n: r.offending for n, r in clean_results.items()} == dict.fromkeys(CHECK_NAMES, 0)
    assert all(r.passed for r in clean_results.values())


def test_freshness_names_the_silent_instrument_and_channel(dirty_results):
    found = {
        (r["source_table"], r["channel"], r["inst_id"]) for r in rows(dirty_results["freshness"])
    }
    assert found == {("raw_ticks", "trades", "STALE-USDT"), ("mark_prices", "mark-price", ds.SWAP)}


def test_duplicate_trade_ids_lists_each_copied_trade(dirty_results):
    result = dirty_results["duplicate_trade_ids"]
    assert result.offending == 5 and not result.passed
    assert sorted((r["inst_id"], r["trade_id"], r["copies"]) for r in rows(result)) == [
        ("ETH-USDT", 2_000_100 + i, 2) for i in range(5)
    ]


def test_trade_id_gaps_counts_the_missing_ids(dirty_results):
    (gap,) = rows(dirty_results["trade_id_gaps"])
    assert (gap["inst_id"], gap["prev_trade_id"], gap["trade_id"], gap["missing"]) == (
        "GAP-USDT", 5_000_099, 5_000_109, 9,
    )  # fmt: skip


def test_book_sequence_break_is_found_and_resets_keepalives_resyncs_are_not(dirty_results):
    (brk,) = rows(dirty_results["book_sequence_breaks"])
    assert (brk["inst_id"], brk["expected_prev_seq_id"], brk["prev_seq_id"], brk["seq_id"]) == (
        "BRK-USDT", 11, 12, 13,
    )  # fmt: skip


def test_candles_missing_for_raw_ticks_are_reported(dirty_results):
    found = rows(dirty_results["ohlcv_consistency"])
    assert [(r["inst_id"], r["raw_trades"], r["candle_trades"]) for r in found] == [
        ("NOMV-USDT", 60, 0), ("NOMV-USDT", 60, 0),
    ]  # fmt: skip


def test_late_and_future_rows_are_reported(dirty_results):
    found = sorted((r["source_table"], r["delay_ms"]) for r in rows(dirty_results["timestamps"]))
    assert found == [("bbo", -11_000), ("tickers", 60_000), ("tickers", 60_000)]


def test_thresholds_and_limits_change_the_verdict_not_the_count(executor, dirty_results):
    relaxed = run_checks(
        executor, thresholds={"duplicate_trade_ids": 5}, limits={"max_delay_ms": 120_000}
    )
    assert relaxed["duplicate_trade_ids"].offending == 5 and relaxed["duplicate_trade_ids"].passed
    assert relaxed["timestamps"].offending == 1  # only the future bbo row is left


def test_the_module_returns_the_failed_checks_and_a_report(executor, dirty_results):
    mod = data_quality_module()

    params = {
        "path": str(CHECKS_DIR), "checks": ["trade_id_gaps", "freshness"], "as_of": ds.AS_OF,
        "window_hours": 1.0, "since": None, "limits": {}, "thresholds": {}, "max_rows": 5,
        "data_database": "hft_data", "analytics_database": "hft_analytics",
    }  # fmt: skip
    outcome = mod.check_all(executor, params)
    assert outcome["failed_checks"] == ["freshness", "trade_id_gaps"]
    assert "FAIL trade_id_gaps" in outcome["report"] and "GAP-USDT" in outcome["report"]
    json.dumps(outcome)  # what Ansible returns must serialise


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"checks": ["no_such_check"]}, "unknown check(s) no_such_check"),
        ({"as_of": "yesterday"}, "use 'YYYY-MM-DD HH:MM:SS[.fff]'"),
        ({"limits": {"stale_trades_s": "1; DROP TABLE x"}}, "must be a whole number"),
        ({"limits": {"stale_everything": 1}}, "unknown limit 'stale_everything'"),
        ({"thresholds": {"freshnes": 1}}, "thresholds given for unknown check(s): freshnes"),
    ],
)
def test_bad_options_fail_before_any_query_with_what_to_fix(change, message):
    mod = data_quality_module()

    class NoServer:
        def query(self, sql):
            raise AssertionError(f"no query may run: {sql[:60]}")

    params = {
        "path": str(CHECKS_DIR), "checks": [], "as_of": ds.AS_OF, "window_hours": 1.0,
        "since": None, "limits": {}, "thresholds": {}, "max_rows": 5,
        "data_database": "hft_data", "analytics_database": "hft_analytics", **change,
    }  # fmt: skip
    with pytest.raises(mod.quality.QualityError) as err:
        mod.check_all(NoServer(), params)
    assert message in str(err.value)


def test_make_quality_exits_1_on_a_defect_and_0_when_clean(tmp_path):
    db_dir = tmp_path / "db"
    subprocess.run([sys.executable, str(ROOT / "scripts/schema-dev.py"), "--db", str(db_dir)],
                   check=True, capture_output=True)  # fmt: skip
    script = [sys.executable, str(ROOT / "scripts/quality-check.py"), "--db", str(db_dir),
              "--as-of", ds.AS_OF, "--window-hours", "1"]  # fmt: skip
    fill = (
        "import sys; sys.path[:0] = [sys.argv[2], sys.argv[3]]\n"
        "import clickhouse, quality_dataset as ds\nfrom chdb import session\n"
        "s = session.Session(sys.argv[1]); db = clickhouse.ChdbExecutor(s)\n"
        "ds.trade_gap(db) if sys.argv[4] == 'gap' else ds.clean(db, 600)\ns.close()\n"
    )
    helpers = [str(ROOT / "plugins/module_utils"), str(Path(__file__).parent)]
    subprocess.run([sys.executable, "-c", fill, str(db_dir), *helpers, "clean"], check=True)
    ok = subprocess.run(script, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    subprocess.run([sys.executable, "-c", fill, str(db_dir), *helpers, "gap"], check=True)
    bad = subprocess.run([*script, "--json"], capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failed = [r["name"] for r in json.loads(bad.stdout) if not r["passed"]]
    assert failed == ["trade_id_gaps"]


@pytest.mark.parametrize(
    ("version", "refused"),
    [("18.16.1", True), ("21.3.20.1", True), ("21.8.1", False), ("26.3.21.7", False)],
)
def test_servers_without_window_functions_are_refused_by_name(version, refused):
    if refused:
        with pytest.raises(quality.QualityError, match=f"ClickHouse {version} cannot run"):
            quality.require_server(version)
    else:
        quality.require_server(version)


def test_the_checks_run_on_the_embedded_engine_version(executor):
    quality.require_server(executor.query("SELECT version()")[0][0])
