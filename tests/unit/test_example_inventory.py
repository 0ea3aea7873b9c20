"""The example production inventory, loaded the way ansible-playbook loads it (Ansible's
InventoryManager and VariableManager: hosts.yml and group_vars/), with the secrets a
user fills into group_vars/all/vault.yml.example, works as a platform:

- Grafana's ClickHouse datasource logs in as ClickHouse's analyst user, from the
  monitoring host: that host's address must be inside clickhouse_analyst_networks, or
  ClickHouse refuses the datasource;
- Alertmanager routes alerts to a receiver that notifies someone, not to `blackhole`
  (the role's fallback when the inventory names no receiver);
- the sha256 pins an operator must fill in are in the example, and documented.

Variables are resolved with the role's defaults and vars underneath the inventory's,
and hft_platform computed as the common role computes it (the platform filters).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from repo_source import load_source, trust

templating = pytest.importorskip("ansible.template", reason="pip install ansible-core")

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "example"
platform = load_source("platform_filters_example", "plugins/filter/platform.py")


def role_vars(role: str) -> dict:
    variables = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        path = ROOT / "roles" / role / name
        if path.exists():
            variables.update(trust(yaml.safe_load(path.read_text()) or {}))
    return variables


def vault_example() -> dict:
    """vault.yml.example as a user fills it in: every empty secret gets a value."""
    raw = yaml.safe_load((INVENTORY / "group_vars/all/vault.yml.example").read_text())
    filled = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            filled[name] = {key: f"https://hooks.example/{key}" for key in value}
        else:
            filled[name] = f"{name}-filled-in-0123456789"
    return filled


@pytest.fixture(scope="module")
def inventory():
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(INVENTORY)])
    variables = VariableManager(loader=loader, inventory=manager)
    hostvars = {
        host.name: variables.get_vars(host=host, include_hostvars=False)
        for host in manager.get_hosts()
    }
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    common = role_vars("common")
    addresses = platform.group_addresses(groups, hostvars, common["common_platform_groups"])

    def resolve(host: str, role: str, expression: str):
        values = {
            **role_vars(role),
            **hostvars[host],
            **vault_example(),
            "groups": groups,
            "hostvars": hostvars,
            "inventory_hostname": host,
            "ansible_managed": "Ansible managed",
            "hft_platform": {
                "address": platform.host_addresses([host], hostvars)[0],
                "addresses": addresses,
            },
        }
        templar = templating.Templar(loader=loader, variables=values)
        return templar.template(templating.trust_as_template(expression))

    return {"groups": groups, "hostvars": hostvars, "addresses": addresses, "resolve": resolve}


def test_every_host_has_an_inventory_address(inventory):
    """No address depends on gathered facts, hence on --limit (roles/common/README.md)."""
    for host, variables in inventory["hostvars"].items():
        assert variables.get("hft_address") or variables.get("ansible_host"), host


def test_grafana_reaches_clickhouse_as_an_allowed_analyst(inventory):
    monitoring = inventory["addresses"]["monitoring"]
    assert monitoring, "the example has a monitoring host"
    resolve = inventory["resolve"]
    assert resolve("mon-1", "grafana", "{{ grafana_clickhouse_user }}") == resolve(
        "ch-1", "clickhouse", "{{ clickhouse_analyst_user }}"
    )
    for clickhouse_host in inventory["groups"]["clickhouse"]:
        networks = resolve(clickhouse_host, "clickhouse", "{{ clickhouse_analyst_networks }}")
        assert isinstance(networks, list), networks
        parsed = [ipaddress.ip_network(n, strict=False) for n in networks]
        for address in monitoring:
            assert any(ipaddress.ip_address(address) in net for net in parsed), (
                clickhouse_host,
                address,
                networks,
            )


def test_alerts_reach_a_real_receiver(inventory):
    resolve = inventory["resolve"]
    urls = vault_example()["vault_alertmanager_receiver_urls"]
    assert urls, "vault.yml.example names at least one webhook receiver"
    for host in inventory["groups"]["monitoring"]:
        default = resolve(host, "alertmanager", "{{ alertmanager_default_receiver }}")
        critical = resolve(host, "alertmanager", "{{ alertmanager_critical_receiver }}")
        assert default != "blackhole" and default in urls, default
        assert critical in ("", *urls), critical
        # The rendered configuration: the default route's receiver has a webhook.
        text = resolve(
            host,
            "alertmanager",
            (ROOT / "roles/alertmanager/templates/alertmanager.yml.j2").read_text(),
        )
        config = yaml.safe_load(text)
        receivers = {r["name"]: r for r in config["receivers"]}
        route = config["route"]["receiver"]
        assert route != "blackhole"
        assert receivers[route]["webhook_configs"][0]["url"].startswith("https://")


def test_operator_pins_are_in_the_example_and_documented():
    readme = (INVENTORY / "README.md").read_text()
    group_vars = {
        p.name: yaml.safe_load(p.read_text()) for p in (INVENTORY / "group_vars").glob("*.yml")
    }
    assert "clickhouse_repository_key_sha256" in group_vars["clickhouse.yml"]
    assert "grafana_apt_key_sha256" in group_vars["monitoring.yml"]
    for name in (
        "grafana_apt_key_sha256",
        "clickhouse_repository_key_sha256",
        "hft_address",
        "vault_alertmanager_receiver_urls",
        "TLS",
        "tls_cert_file",
    ):
        assert name in readme, name
