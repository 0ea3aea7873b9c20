"""What a user relies on after the tuning role, on a 2-CPU systemd container.

Plan: housekeeping "0", isolated "1", the test service tuning-probe pinned to "1".
Only net.* sysctls are applied live (they are per network namespace); vm.*, kernel.*
and fs.* are global to the machine running the tests and are only persisted. The one
live change made here (net.ipv4.tcp_fastopen, per namespace) is restored.
"""

import json

import pytest

AUDIT = "/usr/local/sbin/hft-tuning-audit"


def audit(host):
    result = host.run(f"{AUDIT} --json")
    return result.rc, json.loads(result.stdout)


def test_one_sysctl_file_without_noop_settings(host):
    conf = host.file("/etc/sysctl.d/60-okx-hft.conf").content_string
    assert "net.ipv4.tcp_fastopen=3" in conf
    assert "kernel.numa_balancing=0" in conf
    assert "vm.swappiness=10" in conf
    assert "tcp_low_latency" not in conf
    assert "kernel.sched_" not in conf


def test_namespaced_sysctl_applied_live(host):
    assert host.run("sysctl -n net.ipv4.tcp_fastopen").stdout.strip() == "3"


def test_grub_dropin_has_the_isolation_cmdline(host):
    grub = host.file("/etc/default/grub.d/60-okx-hft.cfg").content_string
    line = next(x for x in grub.splitlines() if x.startswith("GRUB_CMDLINE_LINUX_DEFAULT="))
    assert line.startswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT ')
    params = line.split('"')[1].split()
    for expected in [
        "isolcpus=managed_irq,domain,1",
        "nohz_full=1",
        "rcu_nocbs=1",
        "rcu_nocb_poll",
        "irqaffinity=0",
        "skew_tick=1",
        "nosoftlockup",
        "tsc=reliable",
        "transparent_hugepage=never",
    ]:
        assert expected in params


def test_systemd_manager_keeps_pid1_on_housekeeping_cpus(host):
    conf = host.file("/etc/systemd/system.conf.d/60-okx-hft.conf").content_string
    assert "[Manager]" in conf
    assert "\nCPUAffinity=0\n" in conf
    assert "DefaultLimitNOFILE=1048576" in conf


def test_irqbalance_bans_the_isolated_cpus(host):
    conf = host.file("/etc/default/irqbalance").content_string
    assert "\nIRQBALANCE_BANNED_CPULIST=1\n" in conf
    assert host.package("irqbalance").is_installed


def test_boot_time_sysfs_settings_are_persisted(host):
    conf = host.file("/etc/tmpfiles.d/60-okx-hft.conf").content_string
    assert "w /sys/kernel/mm/transparent_hugepage/enabled - - - - never" in conf
    assert "w /sys/devices/virtual/workqueue/cpumask - - - - 1" in conf


def test_reboot_pending_marker_names_the_expected_cmdline(host):
    marker = host.file("/var/lib/okx-hft/reboot-pending")
    assert marker.exists
    assert "expected-cmdline: isolcpus=managed_irq,domain,1" in marker.content_string


def test_pinned_service_runs_on_its_planned_cpus(host):
    dropin = host.file("/etc/systemd/system/tuning-probe.service.d/60-cpu-affinity.conf")
    assert "CPUAffinity=1" in dropin.content_string
    pid = host.run("systemctl show -p MainPID --value tuning-probe.service").stdout.strip()
    assert pid.isdigit() and int(pid) > 0
    out = host.run(f"taskset -pc {pid}").stdout
    assert out.strip().endswith(": 1"), out


def test_audit_is_clean_or_only_reboot_pending(host):
    rc, report = audit(host)
    assert rc in (0, 2), report
    assert report["counts"]["drift"] == 0
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    assert statuses["service tuning-probe"] == "ok"
    assert statuses["sysctl net.ipv4.tcp_fastopen"] == "ok"
    assert statuses["irqbalance banned CPUs"] == "ok"
    # What a container cannot have is n/a, not drift.
    assert statuses["cpufreq governor"] == "n/a"
    table = host.run(AUDIT)
    assert table.rc == rc and "CHECK" in table.stdout


def test_audit_reports_drift_after_a_manual_change(host):
    before = host.run("sysctl -n net.ipv4.tcp_fastopen").stdout.strip()
    with host.sudo():
        assert host.run("sysctl -w net.ipv4.tcp_fastopen=1").rc == 0
    try:
        rc, report = audit(host)
        assert rc == 1
        drift = [c for c in report["checks"] if c["status"] == "drift"]
        assert [c["check"] for c in drift] == ["sysctl net.ipv4.tcp_fastopen"]
        assert drift[0]["actual"] == "1"
    finally:
        host.run(f"sysctl -w net.ipv4.tcp_fastopen={before}")
    assert audit(host)[0] in (0, 2)


def test_audit_reports_a_service_off_its_plan(host):
    pid = host.run("systemctl show -p MainPID --value tuning-probe.service").stdout.strip()
    assert host.run(f"taskset -pc 0 {pid}").rc == 0
    try:
        rc, report = audit(host)
        assert rc == 1
        (check,) = [c for c in report["checks"] if c["check"] == "service tuning-probe"]
        assert check["status"] == "drift"
    finally:
        host.run(f"taskset -pc 1 {pid}")
    assert audit(host)[0] in (0, 2)


@pytest.mark.parametrize("path", ["/etc/okx-hft/tuning-expected.json"])
def test_expectations_are_valid_json(host, path):
    expected = json.loads(host.file(path).content_string)
    assert expected["isolated"] == "1" and expected["housekeeping"] == "0"
    assert expected["sysctl"]["vm.swappiness"]["live"] is False
    assert expected["services"] == {"tuning-probe": {"cpus": "1", "numa_policy": ""}}
