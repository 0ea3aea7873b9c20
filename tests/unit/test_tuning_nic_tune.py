"""hft-nic-tune (tuning role): parsing real ethtool output and setting only what differs.

The molecule scenario has only a veth (channels, no rings or coalescing); these outputs
are ethtool 6.1's for a multi-queue NIC, so the paths a real NIC takes are tested here.
"""

from __future__ import annotations

import pytest
from repo_source import load_source

nic = load_source("hft_nic_tune", "roles/tuning/files/hft-nic-tune")

RINGS = """Ring parameters for ens1f0:
Pre-set maximums:
RX:\t\t\t8192
RX Mini:\t\tn/a
RX Jumbo:\t\tn/a
TX:\t\t\t8192
Current hardware settings:
RX:\t\t\t1024
RX Mini:\t\tn/a
RX Jumbo:\t\tn/a
TX:\t\t\t1024
RX Buf Len:\t\tn/a
CQE Size:\t\tn/a
TX Push:\t\toff
TCP data split:\t\tn/a
"""

CHANNELS = """Channel parameters for ens1f0:
Pre-set maximums:
RX:\t\tn/a
TX:\t\tn/a
Other:\t\tn/a
Combined:\t63
Current hardware settings:
RX:\t\tn/a
TX:\t\tn/a
Other:\t\tn/a
Combined:\t63
"""

COALESCE = """Coalesce parameters for ens1f0:
Adaptive RX: on  TX: on
stats-block-usecs: n/a
sample-interval: n/a
pkt-rate-low: n/a

rx-usecs: 8
rx-frames: 128
rx-usecs-irq: n/a

tx-usecs: 16
tx-frames: 32

CQE mode RX: off  TX: off
"""

READS = {"-g": RINGS, "-l": CHANNELS, "-c": COALESCE}


def test_parse_rings_current_and_maximum():
    current, maximum = nic.parse_current("rings", RINGS)
    assert current["rx"] == "1024" and current["tx"] == "1024"
    assert current["rx-jumbo"] == "n/a" and current["tx-push"] == "off"
    assert maximum["rx"] == "8192"


def test_parse_channels():
    current, maximum = nic.parse_current("channels", CHANNELS)
    assert current == {"rx": "n/a", "tx": "n/a", "other": "n/a", "combined": "63"}
    assert maximum["combined"] == "63"


def test_parse_coalesce_pairs_and_keys():
    current, _ = nic.parse_current("coalesce", COALESCE)
    assert current["adaptive-rx"] == "on" and current["adaptive-tx"] == "on"
    assert current["cqe-mode-rx"] == "off"
    assert current["rx-usecs"] == "8" and current["rx-usecs-irq"] == "n/a"


class FakeEthtool:
    """ethtool with the outputs above; records set calls; `unsupported` read options fail."""

    def __init__(self, unsupported=(), set_rc=0):
        self.calls: list[list[str]] = []
        self.unsupported = set(unsupported)
        self.set_rc = set_rc

    def __call__(self, args):
        self.calls.append(args)
        if args[0] == "-i":
            return 0, "driver: mlx5_core\n", ""
        if args[0] in READS:
            if args[0] in self.unsupported:
                return 1, "", "netlink error: Operation not supported"
            return 0, READS[args[0]], ""
        return self.set_rc, "", "" if self.set_rc == 0 else "netlink error: Invalid argument"


WANTED = {
    "rings": {"rx": 4096, "tx": 1024},
    "channels": {"combined": 4},
    "coalesce": {"adaptive-rx": False, "rx-usecs": 0, "tx-usecs": 16},
}


@pytest.fixture
def fake(monkeypatch):
    ethtool = FakeEthtool()
    monkeypatch.setattr(nic, "ethtool", ethtool)
    return ethtool


def test_check_reports_only_differing_keys_and_sets_nothing(fake):
    report = nic.summary([nic.tune("ens1f0", WANTED, apply=False)])
    assert sorted(report["differs"]) == [
        "ens1f0 channels combined=4 (now 63)",
        "ens1f0 coalesce adaptive-rx=off (now on)",
        "ens1f0 coalesce rx-usecs=0 (now 8)",
        "ens1f0 rings rx=4096 (now 1024)",
    ]
    assert report["changed"] == [] and report["errors"] == []
    assert not [c for c in fake.calls if c[0] in ("-G", "-L", "-C")]


def test_apply_sets_differing_keys_in_one_call_per_group(fake):
    report = nic.summary([nic.tune("ens1f0", WANTED, apply=True)])
    sets = [c for c in fake.calls if c[0] in ("-G", "-L", "-C")]
    assert ["-G", "ens1f0", "rx", "4096"] in sets  # tx already 1024: not set
    assert ["-L", "ens1f0", "combined", "4"] in sets
    assert ["-C", "ens1f0", "adaptive-rx", "off", "rx-usecs", "0"] in sets
    assert len(sets) == 3
    assert len(report["changed"]) == 4 and report["differs"] == []


def test_nothing_to_do_when_values_match(fake):
    wanted = {"rings": {"rx": 1024}, "coalesce": {"adaptive-rx": True}}
    report = nic.summary([nic.tune("ens1f0", wanted, apply=True)])
    assert report["changed"] == [] and report["differs"] == []
    assert not [c for c in fake.calls if c[0] in ("-G", "-C")]


def test_unsupported_group_and_key_are_reported_not_errors(monkeypatch):
    monkeypatch.setattr(nic, "ethtool", FakeEthtool(unsupported={"-g", "-c"}))
    wanted = {"rings": {"rx": 4096}, "channels": {"rx": 2}, "coalesce": {"rx-usecs": 0}}
    report = nic.summary([nic.tune("eth0", wanted, apply=True)])
    assert sorted(report["unsupported"]) == [
        "eth0 channels rx=2",  # the NIC prints n/a for it
        "eth0 coalesce rx-usecs=0",
        "eth0 rings rx=4096",
    ]
    assert report["errors"] == [] and report["changed"] == []


def test_above_the_maximum_is_an_error_before_any_set(fake):
    report = nic.summary([nic.tune("ens1f0", {"rings": {"rx": 16384}}, apply=True)])
    assert report["errors"] == ["ens1f0 rings rx=16384: rx 16384 is above the NIC's maximum 8192"]
    assert not [c for c in fake.calls if c[0] == "-G"]


def test_failed_set_is_an_error(monkeypatch):
    monkeypatch.setattr(nic, "ethtool", FakeEthtool(set_rc=1))
    report = nic.summary([nic.tune("ens1f0", {"channels": {"combined": 4}}, apply=True)])
    assert len(report["errors"]) == 1 and "Invalid argument" in report["errors"][0]


def test_missing_interface_is_an_error(monkeypatch):
    monkeypatch.setattr(nic, "ethtool", lambda args: (1, "", "No such device"))
    report = nic.summary([nic.tune("nope0", {"channels": {"combined": 4}}, apply=True)])
    assert report["errors"] == ["nope0: no such interface or ethtool failed: No such device"]
