"""Filters that compute platform-wide facts from the inventory (used by the common role)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _address_of(host: str, hostvars: Mapping[str, Any]) -> str:
    """The address peers use to reach ``host``.

    In order: the inventory's explicit ``hft_address``, the default IPv4 address from
    gathered facts, ``ansible_host``, and last the inventory name itself.
    """
    hv = hostvars.get(host, {}) if hasattr(hostvars, "get") else hostvars[host]
    explicit = hv.get("hft_address")
    if explicit:
        return str(explicit)
    facts = hv.get("ansible_facts") or {}
    ipv4 = (facts.get("default_ipv4") or {}).get("address")
    if ipv4:
        return str(ipv4)
    return str(hv.get("ansible_host") or host)


def host_addresses(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """Addresses of ``hosts``, in inventory order."""
    return [_address_of(host, hostvars) for host in hosts]


def group_addresses(
    groups: Mapping[str, list[str]], hostvars: Mapping[str, Any], names: Iterable[str]
) -> dict[str, list[str]]:
    """``{group: [address, ...]}`` for each group in ``names``; absent groups map to []."""
    return {name: host_addresses(groups.get(name, []), hostvars) for name in names}


class FilterModule:
    """okx_hft.infra platform filters."""

    def filters(self) -> dict[str, Any]:
        return {"host_addresses": host_addresses, "group_addresses": group_addresses}
