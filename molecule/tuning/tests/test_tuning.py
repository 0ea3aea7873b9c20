"""What a user relies on after the tuning role, on a 2-CPU systemd container.

Plan: housekeeping "0", isolated "1", the test service tuning-probe pinned to "1".
Only net.* sysctls are applied live (they are per network namespace); vm.*, kernel.*
and fs.* are global to the machine running the tests and are only persisted. The one
live change made here (net.ipv4.tcp_fastopen, per namespace) is restored.

NIC: the container's veth eth0 supports channels (set to rx 2 tx 2), not rings or
coalescing (reported as unsupported). PTP: ptp4l with software timestamps and
free_running 1 (it never adjusts the clock); no PHC, so no phc2sys. PM QoS: no
/dev/cpu_dma_latency in a container, so the unit is only rendered, verified and enabled.
"""

import json
import re

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


def units_verify(host, *units):
    # --man=no: the minimal image has no man pages for Documentation=man:...
    return host.run("systemd-analyze verify --man=no " + " ".join(units))


def channels(host):
    out = host.run("ethtool -l eth0").stdout
    current = out.split("Current hardware settings:")[1]
    return {
        line.split(":")[0].strip(): line.split(":")[1].strip()
        for line in current.splitlines()
        if ":" in line
    }


def test_nic_channels_set_and_unsupported_settings_reported(host):
    assert channels(host)["RX"] == "2" and channels(host)["TX"] == "2"
    wanted = json.loads(host.file("/etc/okx-hft/nic-tuning.json").content_string)
    assert wanted["eth0"]["channels"] == {"rx": 2, "tx": 2}
    report = json.loads(host.check_output("/usr/local/sbin/hft-nic-tune --check --json"))
    assert report["differs"] == [] and report["errors"] == []
    assert sorted(report["unsupported"]) == [
        "eth0 coalesce adaptive-rx=off",
        "eth0 coalesce rx-usecs=0",
        "eth0 rings rx=4096",
    ]


def test_nic_settings_persisted_by_a_per_device_unit(host):
    unit = host.file("/etc/systemd/system/okx-nic-tuning@.service").content_string
    assert "BindsTo=sys-subsystem-net-devices-%i.device" in unit
    assert "Before=network-pre.target" in unit
    assert "WantedBy=sys-subsystem-net-devices-%i.device" in unit
    assert host.run("systemctl is-enabled okx-nic-tuning@eth0.service").stdout.strip() == "enabled"
    result = units_verify(host, "okx-nic-tuning@eth0.service")
    assert result.rc == 0, result.stderr


def test_nic_unit_applies_the_settings_under_its_hardening(host):
    """The unit's [Service] as it is (a dynamic user with only CAP_NET_ADMIN, a
    read-only system): it puts back a changed channel count. A container has no udev
    device units, so a copy without the BindsTo= on the device runs it."""
    unit = host.file("/etc/systemd/system/okx-nic-tuning@.service").content_string
    copy = "\n".join(
        line for line in unit.splitlines() if not line.startswith(("BindsTo=", "After=sys-"))
    )
    path = "/run/systemd/system/okx-nic-tuning-probe@.service"
    assert host.run(f"cat > {path} <<'EOF'\n{copy}\nEOF").rc == 0
    try:
        assert host.run("systemctl daemon-reload && ethtool -L eth0 rx 1").rc == 0
        result = host.run("systemctl start okx-nic-tuning-probe@eth0.service")
        journal = host.run("journalctl -u okx-nic-tuning-probe@eth0.service --no-pager").stdout
        assert result.rc == 0, result.stderr + journal[-2000:]
        assert channels(host)["RX"] == "2", journal[-2000:]
        assert show_unit(host, "okx-nic-tuning-probe@eth0.service", "DynamicUser") == "yes"
    finally:
        host.run("systemctl stop okx-nic-tuning-probe@eth0.service")
        host.run(f"rm -f {path} && systemctl daemon-reload")
        host.run("/usr/local/sbin/hft-nic-tune --apply")


def show_unit(host, name, prop):
    return host.check_output(f"systemctl show -p {prop} --value {name}")


def exposure(host, name):
    out = host.run(f"systemd-analyze security --no-pager {name}").stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out[-500:]
    return float(match.group(1))


# The same ceiling as tests/unit/test_systemd_exposure.py, here on the installed units.
@pytest.mark.parametrize(
    "name",
    [
        "okx-nic-tuning@eth0.service",
        "okx-ptp4l.service",
        "okx-phc2sys.service",
        "okx-cpu-dma-latency.service",
    ],
)
def test_security_exposure_is_at_most_3(host, name):
    value = exposure(host, name)
    print(f"systemd-analyze security {name}: {value}")
    assert value <= 3.0


def test_audit_nic_ok_na_and_drift(host):
    statuses = {c["check"]: c["status"] for c in audit(host)[1]["checks"]}
    assert statuses["NIC eth0 channels"] == "ok"
    assert statuses["NIC eth0 rings"] == "n/a"
    assert statuses["NIC eth0 coalesce"] == "n/a"
    assert host.run("ethtool -L eth0 rx 1").rc == 0
    try:
        rc, report = audit(host)
        assert rc == 1
        (check,) = [c for c in report["checks"] if c["check"] == "NIC eth0 channels"]
        assert check["status"] == "drift" and "rx" in check["note"], check
    finally:
        # What the boot unit runs: puts back only what differs.
        fixed = json.loads(host.check_output("/usr/local/sbin/hft-nic-tune --apply --json"))
    assert fixed["changed"] == ["eth0 channels rx=2"]
    assert audit(host)[0] in (0, 2)


def test_ptp4l_runs_with_software_timestamps_and_never_adjusts_the_clock(host):
    conf = host.file("/etc/linuxptp/okx-ptp4l.conf").content_string
    assert "time_stamping\t\tsoftware" in conf
    assert "free_running\t\t1" in conf
    assert "[eth0]" in conf
    ptp4l = host.service("okx-ptp4l.service")
    assert ptp4l.is_running and ptp4l.is_enabled
    pid = host.check_output("systemctl show -p MainPID --value okx-ptp4l.service")
    assert "ptp4l" in host.file(f"/proc/{pid}/cmdline").content_string
    # ptp4l answers management queries on its socket.
    out = host.run("pmc -u -b 0 'GET PORT_DATA_SET'").stdout
    assert "portState" in out, out


def test_phc2sys_skipped_without_a_phc(host):
    assert "PTP Hardware Clock: none" in host.check_output("ethtool -T eth0")
    phc2sys = host.service("okx-phc2sys.service")
    assert not phc2sys.is_running and not phc2sys.is_enabled
    unit = host.file("/etc/systemd/system/okx-phc2sys.service").content_string
    assert "Conflicts=chrony.service" in unit
    assert "ExecStart=/usr/sbin/phc2sys -w -s eth0 -c CLOCK_REALTIME" in unit
    result = units_verify(host, "okx-ptp4l.service", "okx-phc2sys.service")
    assert result.rc == 0, result.stderr
    statuses = {c["check"]: c for c in audit(host)[1]["checks"]}
    assert statuses["PTP ptp4l"]["status"] == "ok"
    assert statuses["PTP phc2sys"]["status"] == "n/a"
    # Alone on the test network, ptp4l listens or becomes master: not drift.
    assert statuses["PTP sync"]["status"] in ("ok", "warn")


def test_pm_qos_unit_rendered_enabled_and_skipped_here(host):
    unit = host.file("/etc/systemd/system/okx-cpu-dma-latency.service").content_string
    assert "ConditionPathExists=/dev/cpu_dma_latency" in unit
    assert "exec 3>/dev/cpu_dma_latency && printf 0x00000000 >&3 && exec sleep infinity" in unit
    assert host.service("okx-cpu-dma-latency.service").is_enabled
    result = units_verify(host, "okx-cpu-dma-latency.service")
    assert result.rc == 0, result.stderr
    assert not host.file("/dev/cpu_dma_latency").exists
    (check,) = [c for c in audit(host)[1]["checks"] if c["check"] == "PM QoS cpu_dma_latency"]
    assert check["status"] == "n/a" and check["expected"] == "0 us"


def test_cgroup_partition_dropins_loaded_and_pinned_service_outside(host):
    for unit, section in [
        ("system.slice", "Slice"),
        ("user.slice", "Slice"),
        ("init.scope", "Scope"),
    ]:
        conf = host.file(f"/etc/systemd/system/{unit}.d/60-okx-hft-cpus.conf").content_string
        assert f"[{section}]\nAllowedCPUs=0\n" in conf
        # systemd loaded the drop-in (also for the init.scope scope unit).
        assert host.check_output(f"systemctl show -p AllowedCPUs --value {unit}") == "0"
    result = units_verify(host, "okx-pinned.slice", "system.slice", "user.slice")
    assert result.rc == 0, result.stderr
    dropin = host.file("/etc/systemd/system/tuning-probe.service.d/60-cpu-affinity.conf")
    assert "Slice=okx-pinned.slice" in dropin.content_string
    probe = "systemctl show -p Slice --value tuning-probe.service"
    assert host.check_output(probe) == "okx-pinned.slice"
    checks = {c["check"]: c for c in audit(host)[1]["checks"]}
    # cgroup v1/hybrid (this test machine): systemd ignores AllowedCPUs -> n/a.
    unified = host.file("/sys/fs/cgroup/cgroup.controllers").exists
    for unit in ("system.slice", "user.slice", "init.scope"):
        check = checks[f"cgroup {unit} AllowedCPUs"]
        assert check["status"] == ("ok" if unified else "n/a"), check


def test_a_sysctl_that_leaves_the_profile_leaves_the_file(host, converge_again):
    def converge(*extra):  # the role's configure step again, on the converged host
        run = converge_again("--tags", "tuning_configure", *extra)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        return run.stdout

    path = "/etc/sysctl.d/60-okx-hft.conf"
    assert "vm.stat_interval=10" in host.file(path).content_string
    try:
        out = converge("-e", '{"tuning_sysctl": {"vm.stat_interval": null}}')
        assert "changed=0" not in out
        conf = host.file(path).content_string
        assert "vm.stat_interval" not in conf
        assert "vm.swappiness=10" in conf
    finally:
        converge()
    assert "vm.stat_interval=10" in host.file(path).content_string
    assert audit(host)[0] in (0, 2)
