"""The checkout's ansible.cfg is also what anyone running site.yml from a clone against
real servers uses (README: `ansible-playbook -i inventories/prod site.yml`): it must not
weaken SSH. Host key checking stays on; the lab and the molecule scenarios reach their
containers with `docker exec` (community.docker.docker), where it does not apply.
No inventory turns it off either.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FALSE = {"false", "no", "0", "off", "n", "f"}


def test_ansible_cfg_keeps_host_key_checking():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "ansible.cfg")
    for section in cfg.sections():
        for key, value in cfg.items(section):
            if key in {"host_key_checking", "host_key_auto_add"}:
                assert value.strip().lower() not in FALSE, f"[{section}] {key} = {value}"
            if key in {"ssh_args", "ssh_common_args", "ssh_extra_args"}:
                lowered = value.lower().replace(" ", "")
                assert "stricthostkeychecking=no" not in lowered, f"[{section}] {key}"
                assert "userknownhostsfile=/dev/null" not in lowered, f"[{section}] {key}"


def _walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
            yield f"{path}.{key}", key, value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


@pytest.mark.parametrize(
    "inventory_file",
    sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "inventories").rglob("*.yml")),
)
def test_no_inventory_turns_host_key_checking_off(inventory_file):
    data = yaml.safe_load((ROOT / inventory_file).read_text()) or {}
    for where, key, value in _walk(data):
        if key in {"ansible_host_key_checking", "ansible_ssh_host_key_checking"}:
            assert str(value).lower() not in FALSE, where
        if key in {"ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args"}:
            assert "stricthostkeychecking=no" not in str(value).lower().replace(" ", ""), where
