"""The ingestor configurations the lab and the example inventories deploy are valid:
each instance's config.yaml.j2 is rendered with the inventory's variables (Ansible's
InventoryManager, VariableManager and Templar, the role's defaults and vars underneath)
and checked by the package's own `okx-ingestor check-config`, the command the role runs
as the template's `validate`. Catches, before any host, a channel that cannot exist for
an instrument (OKX 60018: funding-rate on spot pairs) and an l2-tbt channel without the
OKX API key; and shows the API key lands only in the files of instances that log in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from repo_source import ROOT, load_source, trust

templating = pytest.importorskip("ansible.template", reason="pip install ansible-core")
platform = load_source("platform_filters_ingestor_configs", "plugins/filter/platform.py")
TEMPLATE = (ROOT / "roles/ingestor/templates/config.yaml.j2").read_text()
SECRETS = {  # what the lab generates and the example's vault holds; never real
    "ingestor__clickhouse_password": "ch-password-0123456789",
    "ingestor__redis_password": "redis-password-0123456789",
    "ingestor__kafka_password": "kafka-password-0123456789",
}


def role_vars(role: str) -> dict:
    variables = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        path = ROOT / "roles" / role / name
        if path.exists():
            variables.update(trust(yaml.safe_load(path.read_text()) or {}))
    return variables


def inventory_hosts(inventory: str) -> dict[str, dict]:
    """Ingest host -> its variables as a play sees them in the ingestor role."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(ROOT / "inventories" / inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    hostvars = {
        h.name: variables.get_vars(host=h, include_hostvars=False) for h in manager.get_hosts()
    }
    for values in hostvars.values():  # the lab's container: an address from its facts
        if not values.get("ansible_facts"):
            values["ansible_facts"] = {"default_ipv4": {"address": "127.0.0.1"}}
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    addresses = platform.group_addresses(
        groups, hostvars, role_vars("common")["common_platform_groups"]
    )
    out = {}
    for host in groups["ingest"]:
        out[host] = {
            "__loader": loader,
            **role_vars("ingestor"),
            **hostvars[host],
            **SECRETS,
            "groups": groups,
            "inventory_hostname": host,
            "ansible_managed": "Ansible managed",
            "hft_platform": {
                "address": platform.host_addresses([host], hostvars)[0],
                "addresses": addresses,
            },
        }
    return out


def render(values: dict, index: int) -> str:
    values = dict(values)
    loader = values.pop("__loader")
    instance = values["ingestor_instances"]
    templar = templating.Templar(loader=loader, variables=values)
    instances = templar.template(instance)
    values.update(ingestor_instance=instances[index], ingestor_index=index)
    templar = templating.Templar(loader=loader, variables=values)
    return templar.template(templating.trust_as_template(TEMPLATE))


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "ingestor" / "src")}
    return subprocess.run(
        [sys.executable, "-m", "okx_ingestor.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def instances_of(inventory: str) -> list[tuple[str, dict, int]]:
    out = []
    for host, values in inventory_hosts(inventory).items():
        for index in range(len(values["ingestor_instances"])):
            out.append((host, values, index))
    return out


@pytest.mark.parametrize("inventory", ["lab", "example"])
def test_every_instance_config_passes_check_config(inventory: str, tmp_path: Path) -> None:
    checked = 0
    for host, values, index in instances_of(inventory):
        path = tmp_path / f"{host}-{index}.yaml"
        path.write_text(render(values, index))
        result = check_config(path)
        assert result.returncode == 0, (inventory, host, index, result.stderr)
        assert "config OK" in result.stdout
        assert "login" not in yaml.safe_load(path.read_text())  # no l2-tbt, no API key
        checked += 1
    assert checked >= 2, "both inventories have two instances"


def test_the_old_lab_channels_are_refused(tmp_path: Path) -> None:
    """The lab before this fix: funding-rate on spot pairs, refused by OKX (60018)."""
    _host, values, _ = instances_of("lab")[0]
    values = {**values, "ingestor_instances": [{
        "name": "lab", "instruments": ["BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"],
        "channels": ["trades", "books", "tickers", "funding-rate", "mark-price"]}]}  # fmt: skip
    path = tmp_path / "old-lab.yaml"
    path.write_text(render(values, 0))
    result = check_config(path)
    assert result.returncode == 2
    assert "funding-rate does not exist for BTC-USDT" in result.stderr


def test_l2_tbt_instance_gets_the_okx_key_and_others_do_not(tmp_path: Path) -> None:
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()  # the role reads the vault variables with the `vars` lookup
    _host, values, _ = instances_of("example")[0]
    instances = [
        {"name": "spot", "instruments": ["BTC-USDT"], "channels": ["books", "trades"]},
        {"name": "deep", "instruments": ["BTC-USDT"], "channels": ["books", "books-l2-tbt"]},
    ]
    values = {
        **values,
        "ingestor_instances": instances,
        "ingestor_l2_tbt": True,
        "vault_okx_api_key": "api-key-0123",
        "vault_okx_secret_key": "secret-key-0123",
        "vault_okx_passphrase": "passphrase-0123",
    }
    spot, deep = tmp_path / "spot.yaml", tmp_path / "deep.yaml"
    spot.write_text(render(values, 0))
    deep.write_text(render(values, 1))
    assert "login" not in yaml.safe_load(spot.read_text())
    assert yaml.safe_load(deep.read_text())["login"] == {
        "api_key": "api-key-0123", "secret_key": "secret-key-0123",
        "passphrase": "passphrase-0123"}  # fmt: skip
    result = check_config(deep)
    assert result.returncode == 0, result.stderr
    assert "(1 logging in)" in result.stdout and "secret-key" not in result.stdout
    # Without the vault values the file has empty credentials: check-config says what to set
    # (the role's preflight stops earlier, naming the vault variables).
    for name in ("vault_okx_api_key", "vault_okx_secret_key", "vault_okx_passphrase"):
        values.pop(name)
    deep.write_text(render(values, 1))
    result = check_config(deep)
    assert result.returncode == 2 and "needs a login" in result.stderr
