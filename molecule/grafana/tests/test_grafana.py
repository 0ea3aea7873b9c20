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
    assert "allow_sign_up = false" in content
    assert "reporting_enabled = false" in content


def test_datasources_point_at_the_platform(host):
    f = host.file("/etc/grafana/provisioning/datasources/okx_hft.yml")
    assert f.mode == 0o640
    data = yaml.safe_load(f.content_string)
    by_uid = {d["uid"]: d for d in data["datasources"]}
    assert by_uid["okx-prometheus"]["type"] == "prometheus"
    assert by_uid["okx-prometheus"]["url"].endswith(":9090")
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
