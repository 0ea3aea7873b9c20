"""hft-tuning-audit (tuning role): the NIC, PTP and PM QoS checks on outputs a container
cannot produce (a synchronised PTP slave, a drifting NIC, a held PM QoS request)."""

from __future__ import annotations

import json

import pytest
from repo_source import load_source

audit_mod = load_source("hft_tuning_audit", "roles/tuning/files/hft-tuning-audit")

PMC_SLAVE = """sending: GET PORT_DATA_SET
\tportState               SLAVE
\tmaster_offset              -42
\tgmPresent                  true
"""
PMC_MASTER = "\tportState               MASTER\n\tmaster_offset              0\n"


def make_audit(monkeypatch, expected, outputs):
    """An Audit whose commands answer from `outputs` (first matching argv prefix)."""

    def fake_run(argv):
        for prefix, answer in outputs.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return 127, "not faked"

    monkeypatch.setattr(audit_mod, "run", fake_run)
    monkeypatch.setattr(audit_mod, "in_container", lambda: False)
    return audit_mod.Audit(expected)


def statuses(audit):
    return {c["check"]: c["status"] for c in audit.checks}


PTP_HW = {
    "ptp": {
        "interface": "ens1f0",
        "timestamping": "hardware",
        "ptp4l_unit": "okx-ptp4l.service",
        "phc2sys_unit": "okx-phc2sys.service",
        "owns_clock": True,
    }
}


def test_ptp_slave_in_sync_is_ok_and_chrony_not_checked(monkeypatch):
    audit = make_audit(
        monkeypatch,
        PTP_HW,
        {"systemctl is-active": (0, "active"), "pmc": (0, PMC_SLAVE)},
    )
    audit.ptp()
    audit.clock()
    result = statuses(audit)
    assert result["PTP ptp4l"] == "ok" and result["PTP phc2sys"] == "ok"
    assert result["PTP sync"] == "ok"
    assert result["clock sync"] == "n/a"
    (sync,) = [c for c in audit.checks if c["check"] == "PTP sync"]
    assert sync["actual"] == "SLAVE, offset -42 ns"


def test_ptp_daemon_down_is_drift_and_master_is_a_warning(monkeypatch):
    audit = make_audit(
        monkeypatch,
        PTP_HW,
        {
            "systemctl is-active okx-phc2sys": (3, "inactive"),
            "systemctl is-active": (0, "active"),
            "pmc": (0, PMC_MASTER),
        },
    )
    audit.ptp()
    result = statuses(audit)
    assert result["PTP phc2sys"] == "drift"
    assert result["PTP sync"] == "warn"


def test_ptp_no_answer_from_pmc_is_drift(monkeypatch):
    audit = make_audit(monkeypatch, PTP_HW, {"systemctl is-active": (0, "active"), "pmc": (2, "")})
    audit.ptp()
    assert statuses(audit)["PTP sync"] == "drift"


NIC_REPORT = {
    "interfaces": [
        {
            "interface": "ens1f0",
            "groups": {
                "rings": {"keys": {"rx": {"want": "4096", "have": "1024", "status": "differs"}}},
                "channels": {"keys": {"combined": {"want": "2", "have": "2", "status": "ok"}}},
                "coalesce": {
                    "unsupported": "ethtool -c ens1f0: Operation not supported",
                    "keys": {"rx-usecs": {"want": "0", "have": "", "status": "unsupported"}},
                },
            },
        }
    ]
}


def test_nic_values_ok_drift_and_na(monkeypatch):
    expected = {"nic": {"ens1f0": {"rings": {"rx": 4096}}}, "nic_command": "/x/hft-nic-tune"}
    audit = make_audit(monkeypatch, expected, {"/x/hft-nic-tune": (0, json.dumps(NIC_REPORT))})
    audit.nic()
    result = statuses(audit)
    assert result == {
        "NIC ens1f0 channels": "ok",
        "NIC ens1f0 coalesce": "n/a",
        "NIC ens1f0 rings": "drift",
    }


def test_nic_tool_failure_is_drift(monkeypatch):
    expected = {"nic": {"ens1f0": {"rings": {"rx": 4096}}}, "nic_command": "/x/hft-nic-tune"}
    audit = make_audit(monkeypatch, expected, {"/x/hft-nic-tune": (3, "cannot read")})
    audit.nic()
    assert statuses(audit) == {"NIC settings": "drift"}


@pytest.mark.parametrize(("state", "want"), [("active", "ok"), ("inactive", "drift")])
def test_pm_qos_request_held(monkeypatch, tmp_path, state, want):
    audit = make_audit(
        monkeypatch,
        {"cpu_dma_latency_us": 0},
        {"systemctl is-active": (0 if state == "active" else 3, state)},
    )
    real_exists = audit_mod.os.path.exists
    monkeypatch.setattr(
        audit_mod.os.path,
        "exists",
        lambda p: True if p == "/dev/cpu_dma_latency" else real_exists(p),
    )
    value = tmp_path / "cpu_dma_latency"
    value.write_bytes((0).to_bytes(4, "little", signed=True))
    real_open = open
    monkeypatch.setattr(
        "builtins.open",
        lambda p, *a, **k: real_open(value if p == "/dev/cpu_dma_latency" else p, *a, **k),
    )
    audit.cpu_dma_latency()
    assert statuses(audit) == {"PM QoS cpu_dma_latency": want}
