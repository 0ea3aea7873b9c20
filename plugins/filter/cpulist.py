"""Kernel CPU-list filters and the CPU-plan validator (used by the tuning role).

A CPU list uses the kernel's syntax (cpuset(7) "List format", isolcpus=, nohz_full=,
/sys/devices/system/cpu/isolated): comma-separated CPU numbers and inclusive ranges,
e.g. ``"0-3,8"``. An empty string is the empty set. Every filter accepts a string, an
int or a list of ints/strings, so expressions compose:
``"{{ plan.isolated | cpulist_difference(plan.services.ingestor) }}"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*(?::\s*(\d+)\s*/\s*(\d+)\s*)?)?$")


class CpuListError(ValueError):
    """A CPU list that is not in the kernel's list format."""


def _parse(value: Any) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, bool):
        raise CpuListError(f"not a CPU list: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise CpuListError(f"negative CPU number: {value}")
        return {value}
    if isinstance(value, str):
        cpus: set[int] = set()
        text = value.strip()
        if not text:
            return cpus
        for part in text.split(","):
            match = _RANGE.match(part)
            if not match:
                raise CpuListError(f"not a CPU list: {value!r} (bad element {part.strip()!r})")
            first, last, used, group = match.groups()
            start = int(first)
            end = int(last) if last is not None else start
            if end < start:
                raise CpuListError(f"not a CPU list: {value!r} (range {start}-{end} is reversed)")
            # The kernel's "0-15:2/4" form: use the first `used` CPUs of each `group`.
            if used is not None:
                used_n, group_n = int(used), int(group)
                if group_n == 0 or used_n > group_n:
                    raise CpuListError(f"not a CPU list: {value!r} (bad stride {used}/{group})")
                cpus.update(c for c in range(start, end + 1) if (c - start) % group_n < used_n)
            else:
                cpus.update(range(start, end + 1))
        return cpus
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        cpus = set()
        for item in value:
            cpus |= _parse(item)
        return cpus
    raise CpuListError(f"not a CPU list: {value!r}")


def cpulist_parse(value: Any) -> list[int]:
    """Sorted CPU numbers of a CPU list: ``"0-2,8"`` -> ``[0, 1, 2, 8]``."""
    return sorted(_parse(value))


def cpulist_format(value: Any) -> str:
    """Canonical kernel form of a CPU list: ``[3, 0, 1, 2, 8]`` -> ``"0-3,8"``."""
    cpus = sorted(_parse(value))
    parts: list[str] = []
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(parts)


def cpulist_union(value: Any, *others: Any) -> str:
    """CPUs in any of the lists."""
    cpus = _parse(value)
    for other in others:
        cpus |= _parse(other)
    return cpulist_format(cpus)


def cpulist_intersect(value: Any, *others: Any) -> str:
    """CPUs in all of the lists."""
    cpus = _parse(value)
    for other in others:
        cpus &= _parse(other)
    return cpulist_format(cpus)


def cpulist_difference(value: Any, *others: Any) -> str:
    """CPUs of the first list that are in none of the others."""
    cpus = _parse(value)
    for other in others:
        cpus -= _parse(other)
    return cpulist_format(cpus)


def cpulist_mask(value: Any) -> str:
    """Hex bitmap of a CPU list as sysfs cpumask files take it (workqueue cpumask,
    /proc/irq/*/smp_affinity): 32-bit words, most significant first, comma-separated.
    ``"0-1"`` -> ``"3"``; ``"0,33"`` -> ``"2,00000001"``.
    """
    bits = 0
    for cpu in _parse(value):
        bits |= 1 << cpu
    words: list[int] = []
    while True:
        words.append(bits & 0xFFFFFFFF)
        bits >>= 32
        if not bits:
            break
    words.reverse()
    return ",".join([f"{words[0]:x}"] + [f"{w:08x}" for w in words[1:]])


def _service_cpus(spec: Any) -> Any:
    """A plan's service entry is a CPU list, or a dict with ``cpus`` (and NUMA keys)."""
    if isinstance(spec, Mapping):
        return spec.get("cpus")
    return spec


def _exclusive(name: str, exclusive: Iterable[str]) -> bool:
    """``ingestor`` in ``exclusive`` covers ``ingestor`` and its instances ``ingestor@a``."""
    base = name.split("@", 1)[0]
    return name in exclusive or base in exclusive


def cpu_plan_errors(
    plan: Any,
    cpus: Any,
    host: str = "this host",
    exclusive: Iterable[str] = (),
    variable: str = "tuning_cpu_plan",
) -> list[str]:
    """Every problem of a CPU plan, as messages naming host, variable and value.

    ``plan``: ``{housekeeping: "0-1", isolated: "2-7", services: {name: cpulist | {cpus,
    numa_policy, numa_mask}}}``. ``cpus``: the host's CPU count (from facts) or its CPU
    list. ``exclusive``: services that share their CPUs with no other service.
    An empty plan (``{}`` or None) means "no CPU partitioning" and is valid.
    """
    if plan is None or (isinstance(plan, Mapping) and not plan):
        return []
    if not isinstance(plan, Mapping):
        return [f"{host}: {variable} must be a mapping, got {plan!r}"]
    errors: list[str] = []
    exclusive = list(exclusive or [])
    if isinstance(cpus, int) and not isinstance(cpus, bool):
        known = set(range(cpus))
    else:
        known = _parse(cpus)
    known_text = cpulist_format(known)

    unknown_keys = sorted(set(plan) - {"housekeeping", "isolated", "services"})
    if unknown_keys:
        errors.append(
            f"{host}: {variable} has unknown keys {unknown_keys}"
            " (expected housekeeping, isolated, services)"
        )

    def parse(path: str, value: Any) -> set[int] | None:
        try:
            parsed = _parse(value)
        except CpuListError as exc:
            errors.append(f"{host}: {path} = {value!r}: {exc}")
            return None
        missing = parsed - known
        if missing:
            errors.append(
                f"{host}: {path} = {value!r}: CPU(s) {cpulist_format(missing)} do not exist"
                f" (the host has {len(known)} CPU(s): {known_text})"
            )
        return parsed

    housekeeping = parse(f"{variable}.housekeeping", plan.get("housekeeping"))
    isolated = parse(f"{variable}.isolated", plan.get("isolated"))
    if housekeeping is not None and not housekeeping:
        errors.append(
            f"{host}: {variable}.housekeeping = {plan.get('housekeeping')!r}: no housekeeping"
            " CPU left for the OS, IRQs and every unpinned task"
        )
    if isolated is not None and 0 in isolated:
        errors.append(
            f"{host}: {variable}.isolated = {plan.get('isolated')!r}: CPU 0 must stay a"
            " housekeeping CPU (the boot CPU cannot be nohz_full)"
        )
    if housekeeping and isolated and housekeeping & isolated:
        errors.append(
            f"{host}: {variable}.isolated = {plan.get('isolated')!r} and"
            f" {variable}.housekeeping = {plan.get('housekeeping')!r} overlap on CPU(s)"
            f" {cpulist_format(housekeeping & isolated)}"
        )

    services = plan.get("services") or {}
    if not isinstance(services, Mapping):
        errors.append(f"{host}: {variable}.services must be a mapping, got {services!r}")
        services = {}
    parsed_services: dict[str, set[int]] = {}
    for name, spec in services.items():
        path = f"{variable}.services.{name}"
        value = _service_cpus(spec)
        cpus_of = parse(path, value)
        if cpus_of is None:
            continue
        if not cpus_of:
            errors.append(f"{host}: {path} = {value!r}: a pinned service needs at least one CPU")
            continue
        parsed_services[str(name)] = cpus_of

    names = sorted(parsed_services)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if not (_exclusive(first, exclusive) or _exclusive(second, exclusive)):
                continue
            shared = parsed_services[first] & parsed_services[second]
            if shared:
                one = cpulist_format(parsed_services[first])
                two = cpulist_format(parsed_services[second])
                errors.append(
                    f"{host}: {variable}.services.{first} = {one!r}"
                    f" and {variable}.services.{second} = {two!r}"
                    f" share CPU(s) {cpulist_format(shared)}, but"
                    f" {first if _exclusive(first, exclusive) else second} must not share"
                    " (tuning_cpu_exclusive_services)"
                )
    return errors


class FilterModule:
    """okx_hft.infra CPU-list filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "cpulist_parse": cpulist_parse,
            "cpulist_format": cpulist_format,
            "cpulist_union": cpulist_union,
            "cpulist_intersect": cpulist_intersect,
            "cpulist_difference": cpulist_difference,
            "cpulist_mask": cpulist_mask,
            "cpu_plan_errors": cpu_plan_errors,
        }
