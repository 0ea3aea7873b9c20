"""The platform address filters: what every role uses to find its peers.

A host's address comes from the inventory first (hft_address, then ansible_host), so
that it is the same in every run: gathered facts exist only for the hosts of the run,
and preferring them made `--limit mon-1` rewrite every other host's scrape target. Facts
are a fallback only for a host the inventory gives no address (the lab's container); a
host without inventory address or facts fails, asking for hft_address.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from repo_source import load_source

platform = load_source("platform_filters", "plugins/filter/platform.py")

FACTS = {"default_ipv4": {"address": "192.168.7.7"}}

HOSTVARS = {
    "ch1": {"hft_address": "10.0.1.11", "ansible_host": "ch1.example", "ansible_facts": FACTS},
    "ch2": {"ansible_host": "10.0.1.12", "ansible_facts": FACTS},
    "redis1": {"ansible_host": "redis1.example"},
    "lab": {"ansible_connection": "community.docker.docker", "ansible_facts": FACTS},
    "lab-named": {
        "ansible_connection": "community.docker.docker",
        "ansible_host": "hft-lab-container",
        "ansible_facts": FACTS,
    },
    "bare": {},
}


def test_explicit_address_wins_over_ansible_host_and_facts():
    assert platform.host_addresses(["ch1"], HOSTVARS) == ["10.0.1.11"]


def test_ansible_host_wins_over_facts():
    assert platform.host_addresses(["ch2", "redis1"], HOSTVARS) == [
        "10.0.1.12",
        "redis1.example",
    ]


def test_facts_only_for_a_host_without_inventory_address():
    assert platform.host_addresses(["lab"], HOSTVARS) == ["192.168.7.7"]


def test_ansible_host_of_a_container_connection_is_not_an_address():
    assert platform.host_addresses(["lab-named"], HOSTVARS) == ["192.168.7.7"]


def test_no_inventory_address_and_no_facts_fails_naming_hft_address():
    with pytest.raises(AnsibleFilterError, match=r"'bare'.*Set hft_address for bare"):
        platform.host_addresses(["bare"], HOSTVARS)


def test_limit_does_not_change_any_address():
    """The example inventory's hosts, once with every host's facts gathered (a full run)
    and once with only mon-1's (--limit mon-1): the same addresses."""
    inventory = {
        "ch-1": "10.20.1.11",
        "ch-2": "10.20.1.12",
        "kafka-1": "10.20.2.11",
        "mon-1": "10.20.5.11",
        "ingest-1": "10.20.9.11",
    }
    groups = {
        "clickhouse": ["ch-1", "ch-2"],
        "kafka": ["kafka-1"],
        "monitoring": ["mon-1"],
        "ingest": ["ingest-1"],
    }
    # The hosts' default routes are on another network than the inventory's addresses
    # (e.g. a management NIC): what made full and limited runs disagree.
    full = {
        host: {
            "ansible_host": address,
            "ansible_facts": {"default_ipv4": {"address": f"172.16.0.{i}"}},
        }
        for i, (host, address) in enumerate(inventory.items(), start=1)
    }
    limited = {
        host: (vars_ if host == "mon-1" else {"ansible_host": vars_["ansible_host"]})
        for host, vars_ in full.items()
    }
    names = list(groups)
    assert platform.group_addresses(groups, full, names) == platform.group_addresses(
        groups, limited, names
    )
    assert platform.group_addresses(groups, limited, names)["clickhouse"] == [
        "10.20.1.11",
        "10.20.1.12",
    ]


def test_groups_absent_from_inventory_publish_an_empty_list():
    groups = {"clickhouse": ["ch1", "ch2"], "redis": ["redis1"]}
    assert platform.group_addresses(groups, HOSTVARS, ["clickhouse", "kafka"]) == {
        "clickhouse": ["10.0.1.11", "10.0.1.12"],
        "kafka": [],
    }
