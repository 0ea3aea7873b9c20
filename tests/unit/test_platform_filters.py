"""The platform address filters: what every role uses to find its peers."""

from __future__ import annotations

from repo_source import load_source

platform = load_source("platform_filters", "plugins/filter/platform.py")

HOSTVARS = {
    "ch1": {"hft_address": "10.0.1.11", "ansible_host": "ch1.example"},
    "ch2": {"ansible_facts": {"default_ipv4": {"address": "10.0.1.12"}}, "ansible_host": "x"},
    "redis1": {"ansible_host": "redis1.example"},
    "bare": {},
}


def test_explicit_address_wins_over_facts_and_ansible_host():
    assert platform.host_addresses(["ch1"], HOSTVARS) == ["10.0.1.11"]


def test_fact_address_then_ansible_host_then_name():
    assert platform.host_addresses(["ch2", "redis1", "bare"], HOSTVARS) == [
        "10.0.1.12",
        "redis1.example",
        "bare",
    ]


def test_groups_absent_from_inventory_publish_an_empty_list():
    groups = {"clickhouse": ["ch1", "ch2"], "redis": ["redis1"]}
    assert platform.group_addresses(groups, HOSTVARS, ["clickhouse", "kafka"]) == {
        "clickhouse": ["10.0.1.11", "10.0.1.12"],
        "kafka": [],
    }
