"""Grafana's provisioning on a host without the package: what Grafana would read."""

from __future__ import annotations

import json

import pytest
import yaml

DASHBOARDS = ["platform-overview", "ingestor", "clickhouse", "host-latency", "market"]


def test_grafana_is_not_installed_nor_started(host):
    assert not host.package("grafana").is_installed
    assert not host.exists("grafana-server")


def test_grafana_ini_has_the_vault_password_and_is_private(host):
    ini = host.file("/etc/grafana/grafana.ini")
    assert ini.mode == 0o640
    assert ini.user == "root" and ini.group == "grafana"
    content = ini.content_string
    assert 'admin_password = """test-only-admin-password"""' in content
    assert 'secret_key = """test-only-secret-key-0123456789abcdefghij"""' in content
    assert "allow_sign_up = false" in content
    assert "reporting_enabled = false" in content


def test_datasources_point_at_the_platform(host):
    f = host.file("/etc/grafana/provisioning/datasources/okx_hft.yml")
    assert f.mode == 0o640
    data = yaml.safe_load(f.content_string)
    by_uid = {d["uid"]: d for d in data["datasources"]}
    assert by_uid["okx-prometheus"]["type"] == "prometheus"
    assert by_uid["okx-prometheus"]["url"].endswith(":9090")
    # Prometheus's endpoint requires basic auth (roles/prometheus).
    assert by_uid["okx-prometheus"]["basicAuth"] is True
    assert by_uid["okx-prometheus"]["basicAuthUser"] == "monitor"
    assert (
        by_uid["okx-prometheus"]["secureJsonData"]["basicAuthPassword"]
        == "test-only-prometheus-web"
    )
    ch = by_uid["okx-clickhouse"]
    assert ch["type"] == "grafana-clickhouse-datasource"
    assert ch["jsonData"]["port"] == 9000 and ch["jsonData"]["defaultDatabase"] == "hft_analytics"
    assert ch["secureJsonData"]["password"] == "test-only-analyst-password"


def test_dashboard_provider(host):
    data = yaml.safe_load(
        host.file("/etc/grafana/provisioning/dashboards/okx_hft.yml").content_string
    )
    provider = data["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/okx_hft"
    assert provider["folder"] == "okx_hft"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboards_are_provisioned(host, name):
    f = host.file(f"/var/lib/grafana/dashboards/okx_hft/{name}.json")
    assert f.exists
    assert json.loads(f.content_string)["uid"].startswith("okx-")


def test_cpu_affinity_drop_in(host):
    content = host.file(
        "/etc/systemd/system/grafana-server.service.d/60-okx-hft.conf"
    ).content_string
    assert "CPUAffinity=0" in content


def test_the_admin_password_reaches_grafanas_database_once(host):
    """grafana.ini's admin_password only counts at the first start: the role applies the
    password with `grafana cli admin reset-admin-password` when it changes, and only then
    (the idempotence step ran the role again: still one call)."""
    log = host.file("/tmp/okx-grafana-cli.log").content_string.splitlines()
    calls = [line for line in log if line.startswith("args: ")]
    assert calls == [
        "args: cli --homepath /usr/share/grafana --config /etc/grafana/grafana.ini "
        "admin reset-admin-password --password-from-stdin"
    ]
    assert "stdin: test-only-admin-password" in log
    marker = host.file("/var/lib/grafana/.okx-hft-admin-password")
    assert marker.mode == 0o600 and marker.user == "root"
    assert "test-only-admin-password" not in marker.content_string


def test_hardening_drop_in(host):
    content = host.file(
        "/etc/systemd/system/grafana-server.service.d/60-okx-hft.conf"
    ).content_string
    for line in ["ProtectSystem=strict", "SystemCallFilter=@system-service", "ProcSubset=pid"]:
        assert line in content
