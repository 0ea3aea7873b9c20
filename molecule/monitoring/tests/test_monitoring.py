"""What a desk relies on after the monitoring roles: every target scraped, the platform's
rules loaded, an alert reaching Alertmanager when a target stops, services pinned to the
housekeeping CPUs. Queries go through the HTTP APIs with curl inside the container."""

from __future__ import annotations

import json
import time

import pytest

PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
SERVICES = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-redis-exporter",
]


def get_json(host, url):
    out = host.check_output(f"curl -fsS --max-time 5 '{url}'")
    return json.loads(out)


def wait_for(predicate, timeout=90, step=3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def query(host, expr):
    from urllib.parse import quote

    data = get_json(host, f"{PROMETHEUS}/api/v1/query?query={quote(expr)}")
    assert data["status"] == "success", data
    return data["data"]["result"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_enabled_on_housekeeping_cpu(host, name):
    service = host.service(name)
    assert service.is_running
    assert service.is_enabled
    pid = host.check_output(f"systemctl show -p MainPID --value {name}")
    assert host.check_output(f"taskset -pc {pid}").split(":")[-1].strip() == "0"


# Each service as its own system user (the roles' <role>_user / <role>_group defaults),
# not Debian's shared `prometheus`.
SERVICE_USERS = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "alertmanager",
    "prometheus-node-exporter": "node-exporter",
    "prometheus-redis-exporter": "redis-exporter",
}


@pytest.mark.parametrize(("name", "user"), SERVICE_USERS.items())
def test_service_runs_as_its_own_user(host, name, user):
    pid = host.check_output(f"systemctl show -p MainPID --value {name}")
    # /proc/PID belongs to the process's effective user and group.
    assert host.check_output(f"stat -c '%U %G' /proc/{pid}").split() == [user, user]


def test_alertmanager_storage_belongs_to_alertmanager(host):
    storage = host.file("/var/lib/prometheus/alertmanager")
    assert (storage.user, storage.group) == ("alertmanager", "alertmanager")
    assert host.file("/etc/prometheus/alertmanager.yml").group == "alertmanager"
    override = host.check_output("dpkg-statoverride --list /var/lib/prometheus/alertmanager")
    assert override == "alertmanager alertmanager 750 /var/lib/prometheus/alertmanager"


def test_every_target_is_up(host):
    def targets():
        active = get_json(host, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        if active and all(t["health"] == "up" for t in active):
            return active
        return None

    active = wait_for(targets)
    assert active, get_json(host, f"{PROMETHEUS}/api/v1/targets")
    jobs = {t["labels"]["job"] for t in active}
    assert jobs == {"node", "prometheus", "alertmanager", "redis"}
    # Every target carries the inventory name: inhibition and rules group by it.
    assert {t["labels"]["host"] for t in active} == {host.backend.get_hostname()}


def test_redis_and_cpu_plan_metrics(host):
    assert wait_for(lambda: query(host, "redis_up == 1"))
    # Only the platform's targets (they carry `host`): Debian's package first starts
    # Prometheus with its default config, which scrapes localhost:9100 as job "node"
    # until ours replaces it; those series stay visible for the 5-minute lookback.
    isolated = wait_for(lambda: query(host, 'okx_cpu_isolated{host!=""}'))
    assert [r["metric"]["cpu"] for r in isolated] == ["1"]


def test_platform_rules_are_loaded(host):
    groups = get_json(host, f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {
        "okx_hft.platform",
        "okx_hft.ingestor",
        "okx_hft.clickhouse",
        "okx_hft.redis",
        "okx_hft.kafka",
        "okx_hft.host",
    } <= names
    alerts = {r["name"] for g in groups for r in g["rules"]}
    assert {"IngestChannelStopped", "BookChecksumFailures", "TargetDown"} <= alerts
    assert all(g["rules"] and all(r["health"] != "err" for r in g["rules"]) for g in groups)


def test_retention_by_time_and_size(host):
    flags = get_json(host, f"{PROMETHEUS}/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == "30d"
    # Prometheus's size units are powers of 1024 and it reports them as such.
    assert flags["storage.tsdb.retention.size"] in {"50GB", "50GiB"}


def test_reload_keeps_the_process(host):
    pid = host.check_output("systemctl show -p MainPID --value prometheus")
    host.run_expect([0], "systemctl reload prometheus")
    time.sleep(2)
    assert host.check_output("systemctl show -p MainPID --value prometheus") == pid
    assert query(host, "prometheus_config_last_reload_successful")[0]["value"][1] == "1"


def test_alertmanager_has_the_routes_and_inhibitions(host):
    status = get_json(host, f"{ALERTMANAGER}/api/v2/status")
    config = status["config"]["original"]
    assert 'alertname = "HostDown"' in config or 'alertname="HostDown"' in config
    assert "desk" in config
    mode = host.file("/etc/prometheus/alertmanager.yml").mode
    assert mode == 0o640


def alerts_named(host, name):
    url = f"{ALERTMANAGER}/api/v2/alerts?filter=alertname%3D%22{name}%22"
    return get_json(host, url)


def test_an_alert_fires_when_a_target_stops_and_host_down_inhibits_it(host):
    hostname = host.backend.get_hostname()
    host.run_expect([0], "systemctl stop prometheus-redis-exporter")
    try:

        def redis_target_down():
            found = alerts_named(host, "TargetDown")
            return [a for a in found if a["labels"].get("job") == "redis"]

        alerts = wait_for(redis_target_down, timeout=150, step=5)
        assert alerts, "TargetDown for job redis never reached Alertmanager"
        alert = alerts[0]
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["host"] == hostname
        assert "runbook" in alert["annotations"]
        assert alert["status"]["state"] == "active"
        assert [r["name"] for r in alert["receivers"]] == ["desk"]

        # The whole host now looks down: HostDown fires and silences the host's other
        # alerts (inhibit rule source HostDown, equal: host).
        host.run_expect([0], "systemctl stop prometheus-node-exporter")

        def inhibited():
            if not alerts_named(host, "HostDown"):
                return None
            found = redis_target_down()
            if found and found[0]["status"]["state"] == "suppressed":
                return found[0]
            return None

        suppressed = wait_for(inhibited, timeout=150, step=5)
        assert suppressed, alerts_named(host, "TargetDown")
        assert suppressed["status"]["inhibitedBy"]
    finally:
        host.run_expect([0], "systemctl start prometheus-node-exporter")
        host.run_expect([0], "systemctl start prometheus-redis-exporter")
