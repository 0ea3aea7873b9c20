"""The platform's alert rules: valid for Prometheus, unit-tested, each with a runbook.

promtool (Debian's `prometheus` package) is required: `make unit` installs it through
scripts/ensure-test-deps.sh. A missing promtool fails these tests instead of
skipping them, so that CI never passes with the rules untested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "roles" / "prometheus" / "files" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.rules.yml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.test.yml"))
INGESTOR_SERVICE = ROOT / "ingestor" / "src" / "okx_ingestor" / "service.py"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: run `bash scripts/ensure-test-deps.sh` "
            "(installs Debian's prometheus package) or `make unit`"
        )
    return path


def alerts() -> list[dict]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.append({**rule, "_file": path.name})
    return found


def test_rule_files_exist():
    assert len(RULE_FILES) >= 6
    assert TEST_FILES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path):
    run = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path):
    run = subprocess.run(
        [promtool(), "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_has_severity_summary_and_runbook(rule):
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    for key in ("summary", "description", "runbook"):
        assert rule["annotations"].get(key), f"{rule['alert']} ({rule['_file']}) lacks {key}"


def test_every_alert_is_unit_tested():
    tested = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    untested = (
        {r["alert"] for r in alerts()}
        - tested
        - {
            # Prometheus/Alertmanager self-monitoring: plain counters, no logic to test.
            "PrometheusConfigReloadFailed",
            "PrometheusRuleEvaluationFailures",
            "AlertmanagerNotificationsFailing",
            # Same expression as IngestChannelStopped over the slow channels.
            "IngestSlowChannelStopped",
            "IngestExchangeLagCritical",
            "BookSequenceGaps",
        }
    )
    assert not untested, f"alerts without a firing promtool test: {sorted(untested)}"


def test_ingestor_alerts_use_metrics_the_ingestor_exports():
    """okx_* names in the rules must be names service.py exports (counters get _total)."""
    source = INGESTOR_SERVICE.read_text()
    exported = set()
    families = r'(CounterMetricFamily|GaugeMetricFamily|Histogram)\(\s*"(okx_\w+)"'
    for kind, name in re.findall(families, source):
        exported.add(name + "_total" if kind == "CounterMetricFamily" else name)
    assert "okx_messages_total" in exported
    used = set()
    for rule in alerts():
        used |= set(re.findall(r"\bokx_\w+", str(rule["expr"])))
    # okx_cpu_isolated comes from node_exporter's textfile collector (roles/node_exporter).
    missing = used - exported - {"okx_cpu_isolated"}
    assert not missing, f"rules use metrics the ingestor does not export: {sorted(missing)}"
