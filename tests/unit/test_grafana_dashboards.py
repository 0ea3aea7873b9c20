"""The Grafana dashboards in roles/grafana/files/dashboards, checked without Grafana
(which cannot be installed on the test platform):

- JSON structure Grafana's file provider needs (uid, title, panels with ids and grid);
- every datasource reference is one the role provisions (by uid);
- every Prometheus metric a query uses exists: the ingestor's names are read from
  its collector (ingestor/src/okx_ingestor/service.py), ClickHouse's ProfileEvents and
  CurrentMetrics from a real ClickHouse (chdb's system.events / system.metrics),
  node_exporter's and redis_exporter's from the lists below;
- every ClickHouse query runs against the schema of files/sql applied to chdb, with
  Grafana's macros and variables substituted.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "grafana"
DASHBOARDS = sorted((ROLE / "files" / "dashboards").glob("*.json"))
INGESTOR_SERVICE = ROOT / "ingestor" / "src" / "okx_ingestor" / "service.py"
SQL_DIR = ROOT / "files" / "sql"

# node_exporter (1.5+, default collectors + timex/pressure) and redis_exporter names the
# dashboards use. The monitoring molecule scenario scrapes real exporters.
NODE_METRICS = {
    "node_cpu_seconds_total",
    "node_intr_total",
    "node_softirqs_total",
    "node_context_switches_total",
    "node_timex_offset_seconds",
    "node_timex_maxerror_seconds",
    "node_timex_sync_status",
    "node_pressure_cpu_waiting_seconds_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
}
REDIS_METRICS = {"redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes"}
# ClickHouse asynchronous metrics (not in chdb: computed by the server's background task).
CLICKHOUSE_ASYNC = {"MaxPartCountForPartition", "ReplicasMaxAbsoluteDelay"}
PROMQL_WORDS = {
    "by",
    "on",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "le",
    # aggregation operators, followed by `by`/`without` rather than a parenthesis
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "topk",
    "bottomk",
    "quantile",
    "stddev",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def role_vars() -> dict:
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text())


def provisioned_uids() -> dict[str, str]:
    v = role_vars()
    template = (ROLE / "templates" / "datasources.yml.j2").read_text()
    assert "uid: {{ grafana_prometheus_uid }}" in template
    assert "uid: {{ grafana_clickhouse_uid }}" in template
    return {
        v["grafana_prometheus_uid"]: "prometheus",
        v["grafana_clickhouse_uid"]: "grafana-clickhouse-datasource",
    }


def promql_metrics(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[m.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function
        if m.group(0) in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def ingestor_metrics() -> set[str]:
    source = INGESTOR_SERVICE.read_text()
    names = set()
    families = r'(CounterMetricFamily|GaugeMetricFamily|Histogram)\(\s*"(okx_\w+)"'
    for kind, name in re.findall(families, source):
        if kind == "CounterMetricFamily":
            names.add(name + "_total")
        elif kind == "Histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        else:
            names.add(name)
    return names


def prom_targets():
    for path in DASHBOARDS:
        for panel in panels(load(path)):
            for target in panel.get("targets", []):
                if "expr" in target:
                    yield pytest.param(target["expr"], id=f"{path.stem}:{panel['title']}")
        for var in load(path).get("templating", {}).get("list", []):
            q = var.get("query")
            if isinstance(q, dict) and var["datasource"]["type"] == "prometheus":
                inner = re.match(r"label_values\((.*),\s*\w+\)$", q["query"])
                yield pytest.param(inner.group(1), id=f"{path.stem}:${var['name']}")


def sql_targets():
    for path in DASHBOARDS:
        d = load(path)
        for panel in panels(d):
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    yield pytest.param(d, target["rawSql"], id=f"{path.stem}:{panel['title']}")
        for var in d.get("templating", {}).get("list", []):
            if var["type"] == "query" and var["datasource"]["type"] != "prometheus":
                yield pytest.param(d, var["query"], id=f"{path.stem}:${var['name']}")


def test_the_five_dashboards_exist():
    assert {p.stem for p in DASHBOARDS} >= {
        "platform-overview",
        "ingestor",
        "clickhouse",
        "host-latency",
        "market",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path):
    d = load(path)
    assert re.fullmatch(r"[a-z0-9-]{1,40}", d["uid"])
    assert d["title"].startswith("OKX HFT / ")
    assert isinstance(d["schemaVersion"], int)
    assert d["panels"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(d):
        grid = panel["gridPos"]
        assert 0 <= grid["x"] < 24 and 0 < grid["w"] <= 24 and grid["x"] + grid["w"] <= 24
        assert panel["title"] and panel["type"]
        assert panel.get("targets"), f"panel {panel['title']} has no query"
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    names = [v["name"] for v in d.get("templating", {}).get("list", [])]
    used = set(re.findall(r"\$\{?(\w+)", json.dumps(d["panels"]))) - {"__timeFilter"}
    assert used <= set(names), f"undefined variables {used - set(names)}"


def test_dashboard_uids_are_unique():
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_datasources_are_the_provisioned_ones(path):
    uids = provisioned_uids()
    d = load(path)
    refs = [p["datasource"] for p in panels(d)]
    refs += [t["datasource"] for p in panels(d) for t in p["targets"]]
    refs += [v["datasource"] for v in d.get("templating", {}).get("list", []) if "datasource" in v]
    for ref in refs:
        assert ref["uid"] in uids, ref
        assert uids[ref["uid"]] == ref["type"], ref


@pytest.fixture(scope="module")
def clickhouse_names():
    chdb_session = pytest.importorskip("chdb.session", reason="pip install chdb-core")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = chdb_session.Session(tmp)
        events = s.query(
            "SELECT name FROM system.events SETTINGS system_events_show_zero_values = 1", "CSV"
        )
        metrics = s.query("SELECT metric FROM system.metrics", "CSV")
        names = {
            "ProfileEvents": set(events.data().replace('"', "").split()),
            "Metrics": set(metrics.data().replace('"', "").split()),
            "AsyncMetrics": CLICKHOUSE_ASYNC,
        }
        s.close()
    return names


@pytest.mark.parametrize("expr", list(prom_targets()))
def test_promql_uses_metrics_that_exist(expr, clickhouse_names):
    known = ingestor_metrics() | {"okx_cpu_isolated"} | NODE_METRICS | REDIS_METRICS
    known |= {"up", "ALERTS"}
    for name in promql_metrics(expr):
        m = re.fullmatch(r"ClickHouse(ProfileEvents|Metrics|AsyncMetrics)_(\w+)", name)
        if m:
            assert m.group(2) in clickhouse_names[m.group(1)], f"{name} is not a ClickHouse metric"
        else:
            assert name in known, f"{name} in {expr!r} is not exported by the platform"


def test_rules_and_dashboards_agree_on_ingestor_names():
    """The ClickHouse and okx metric names shared with the alert rules are the same."""
    assert "okx_messages_total" in ingestor_metrics()
    assert "okx_sink_write_seconds_bucket" in ingestor_metrics()


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    chdb_session = pytest.importorskip("chdb.session", reason="pip install chdb-core")
    sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
    import clickhouse
    import migrations

    session = chdb_session.Session(str(tmp_path_factory.mktemp("chdb-grafana")))
    executor = clickhouse.ChdbExecutor(session)
    migrations.migrate(
        executor, migrations.Options(path=SQL_DIR, variables=migrations.default_variables())
    )
    yield executor
    session.close()


def render(dashboard: dict, sql: str) -> list[str]:
    """The SQL Grafana would send, once per value of each custom variable."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= now() - INTERVAL 1 HOUR", sql)
    sql = sql.replace("${inst_id}", "BTC-USDT")
    variants = [sql]
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "custom":
            values = [o["value"] for o in var["options"]]
            variants = [
                v.replace("${" + var["name"] + "}", value) for v in variants for value in values
            ]
    return variants


@pytest.mark.parametrize(("dashboard", "sql"), list(sql_targets()))
def test_clickhouse_queries_run_on_the_schema(schema, dashboard, sql):
    for rendered in render(dashboard, sql):
        assert "$" not in rendered, rendered
        schema.query(rendered)  # raises on an unknown table or column
