"""CPU lists and the CPU-plan validator: the numbers every pinned service depends on."""

from __future__ import annotations

import pytest
from repo_source import load_source

cpulist = load_source("cpulist_filters", "plugins/filter/cpulist.py")

EXCLUSIVE = ["ingestor", "redis"]
GOOD_PLAN = {
    "housekeeping": "0-1",
    "isolated": "2-7",
    "services": {"ingestor@a": "2-3", "ingestor@b": "4", "clickhouse": "5-7", "redis": "1"},
}


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("0-3,8", [0, 1, 2, 3, 8]),
        ("", []),
        (" 1 , 3-4 ", [1, 3, 4]),
        ("0-7:2/4", [0, 1, 4, 5]),
        (5, [5]),
        ([0, "2-3"], [0, 2, 3]),
        (None, []),
    ],
)
def test_parse(text, cpus):
    assert cpulist.cpulist_parse(text) == cpus


@pytest.mark.parametrize("bad", ["a", "3-1", "1,,2", "-1", "1-", True, {"cpus": 1}, -2])
def test_parse_rejects_what_the_kernel_would(bad):
    with pytest.raises(cpulist.CpuListError):
        cpulist.cpulist_parse(bad)


def test_format_is_canonical():
    assert cpulist.cpulist_format([8, 3, 0, 1, 2, 2]) == "0-3,8"
    assert cpulist.cpulist_format("4,5,6,10,12-13") == "4-6,10,12-13"
    assert cpulist.cpulist_format([]) == ""


def test_set_operations():
    assert cpulist.cpulist_union("0-1", "4", [2]) == "0-2,4"
    assert cpulist.cpulist_intersect("0-7", "4-11") == "4-7"
    assert cpulist.cpulist_difference("0-7", "2-3", "7") == "0-1,4-6"
    assert cpulist.cpulist_difference("1", "") == "1"


def test_mask_matches_sysfs_cpumask_format():
    assert cpulist.cpulist_mask("0-1") == "3"
    assert cpulist.cpulist_mask("0") == "1"
    assert cpulist.cpulist_mask("0,33") == "2,00000001"
    assert cpulist.cpulist_mask("") == "0"


def test_good_plan_has_no_error():
    assert cpulist.cpu_plan_errors(GOOD_PLAN, 8, "ch-1", EXCLUSIVE) == []


def test_empty_plan_means_no_partitioning():
    assert cpulist.cpu_plan_errors({}, 2, "h") == []
    assert cpulist.cpu_plan_errors(None, 2, "h") == []


def test_two_cpu_lab_plan_is_valid():
    plan = {"housekeeping": "0", "isolated": "1", "services": {"ingestor": "1", "redis": "0"}}
    assert cpulist.cpu_plan_errors(plan, 2, "hft-lab", EXCLUSIVE) == []


def test_cpu_list_of_the_host_instead_of_a_count():
    assert cpulist.cpu_plan_errors(GOOD_PLAN, "0-7", "h", EXCLUSIVE) == []


def test_service_as_dict_with_numa():
    plan = {
        "housekeeping": "0",
        "isolated": "1-3",
        "services": {"ingestor": {"cpus": "2-3", "numa_policy": "bind", "numa_mask": "0"}},
    }
    assert cpulist.cpu_plan_errors(plan, 4, "h", EXCLUSIVE) == []


def _one_error(plan, cpus=8):
    errors = cpulist.cpu_plan_errors(plan, cpus, "ing-1", EXCLUSIVE)
    assert len(errors) == 1, errors
    assert errors[0].startswith("ing-1: tuning_cpu_plan")
    return errors[0]


def test_unknown_cpus_name_variable_value_and_host_cpus():
    plan = {**GOOD_PLAN, "services": {**GOOD_PLAN["services"], "clickhouse": "5-9"}}
    msg = _one_error(plan)
    assert "tuning_cpu_plan.services.clickhouse = '5-9'" in msg
    assert "CPU(s) 8-9 do not exist" in msg and "0-7" in msg


def test_unknown_isolated_cpu():
    msg = _one_error({**GOOD_PLAN, "isolated": "2-8"})
    assert "tuning_cpu_plan.isolated = '2-8'" in msg and "8 do not exist" in msg


def test_exclusive_services_must_not_share():
    services = {**GOOD_PLAN["services"], "clickhouse": "3,5-7"}
    msg = _one_error({**GOOD_PLAN, "services": services})
    assert "services.clickhouse = '3,5-7'" in msg and "services.ingestor@a = '2-3'" in msg
    assert "share CPU(s) 3" in msg and "ingestor@a must not share" in msg


def test_non_exclusive_services_may_share():
    services = {"ingestor": "2-3", "clickhouse": "4-7", "kafka": "4-7"}
    assert cpulist.cpu_plan_errors({**GOOD_PLAN, "services": services}, 8, "h", EXCLUSIVE) == []


def test_instances_of_one_exclusive_service_must_not_share():
    services = {"ingestor@a": "2-3", "ingestor@b": "3"}
    msg = _one_error({**GOOD_PLAN, "services": services})
    assert "share CPU(s) 3" in msg


def test_isolated_and_housekeeping_overlap():
    msg = _one_error({**GOOD_PLAN, "housekeeping": "0-2"})
    assert "overlap on CPU(s) 2" in msg


def test_no_housekeeping_cpu():
    msg = _one_error({**GOOD_PLAN, "housekeeping": ""})
    assert "no housekeeping CPU" in msg


def test_cpu0_isolated():
    errors = cpulist.cpu_plan_errors(
        {"housekeeping": "1", "isolated": "0,2-7", "services": {}}, 8, "ing-1", EXCLUSIVE
    )
    assert any("CPU 0 must stay a housekeeping CPU" in e for e in errors)


def test_malformed_list_and_unknown_keys():
    errors = cpulist.cpu_plan_errors(
        {"housekeeping": "0-", "isolated": "2-7", "service": {}}, 8, "h", EXCLUSIVE
    )
    assert any("unknown keys ['service']" in e for e in errors)
    assert any("tuning_cpu_plan.housekeeping = '0-'" in e and "not a CPU list" in e for e in errors)


def test_service_without_cpu():
    msg = _one_error({**GOOD_PLAN, "services": {"redis": ""}})
    assert "needs at least one CPU" in msg


def test_plan_must_be_a_mapping():
    errors = cpulist.cpu_plan_errors("0-1", 8, "h")
    assert errors == ["h: tuning_cpu_plan must be a mapping, got '0-1'"]


def test_filters_are_registered():
    names = set(cpulist.FilterModule().filters())
    assert {"cpulist_parse", "cpulist_format", "cpu_plan_errors", "cpulist_mask"} <= names
