"""Filters that compute platform-wide facts from the inventory (used by the common role)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# Connections that do not go over the network: their ansible_host (if any) names a
# container or the controller, not an address peers can use.
_NON_NETWORK_CONNECTIONS = frozenset(
    {
        "local",
        "ansible.builtin.local",
        "docker",
        "community.docker.docker",
        "community.docker.docker_api",
        "podman",
        "containers.podman.podman",
        "community.general.lxd",
        "community.general.chroot",
    }
)


def _address_of(host: str, hostvars: Mapping[str, Any]) -> str:
    """The address peers use to reach ``host``, the same whatever ``--limit`` is.

    In order: the inventory's ``hft_address``; its ``ansible_host`` (when the host is
    reached over the network); only then, for a host the inventory gives no address,
    the default IPv4 address from its gathered facts. A host outside the run (``--limit``)
    has no facts: rather than fall back to something else, and so publish another
    address than a full run would, this fails and asks for ``hft_address``.
    """
    hv = hostvars.get(host, {}) if hasattr(hostvars, "get") else hostvars[host]
    explicit = hv.get("hft_address")
    if explicit:
        return str(explicit)
    connection = str(hv.get("ansible_connection") or "ssh")
    ansible_host = hv.get("ansible_host")
    if ansible_host and connection not in _NON_NETWORK_CONNECTIONS:
        return str(ansible_host)
    facts = hv.get("ansible_facts") or {}
    ipv4 = (facts.get("default_ipv4") or {}).get("address")
    if ipv4:
        return str(ipv4)
    raise AnsibleFilterError(
        f"okx_hft.infra: no address for host {host!r}: the inventory sets neither "
        f"hft_address nor ansible_host for it, and its facts were not gathered in this run "
        f"(outside --limit?). Set hft_address for {host} in the inventory (the address its "
        f"peers use), so that every run publishes the same address."
    )


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
