"""What a user relies on after the common role: time sync, bounded journal, base tools."""

import pytest


def test_chrony_runs_and_is_enabled(host):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled


def test_chrony_answers_and_uses_no_public_pool_in_tests(host):
    config = host.file("/etc/chrony/chrony.conf").content_string
    assert "pool " not in config and "\nserver " not in config
    assert "makestep 1.0 3" in config
    # chronyc talks to the running daemon: the config was accepted at start.
    assert host.run("chronyc -n tracking").rc == 0


def test_journal_is_capped(host):
    dropin = host.file("/etc/systemd/journald.conf.d/60-okx-hft.conf")
    assert dropin.exists
    assert "SystemMaxUse=2G" in dropin.content_string
    assert "RateLimitBurst=10000" in dropin.content_string
    assert host.service("systemd-journald").is_running


def test_platform_group_exists(host):
    assert host.group("hft").exists


@pytest.mark.parametrize("tool", ["ethtool", "numactl", "jq", "chronyc", "lsof"])
def test_operator_tools_are_installed(host, tool):
    assert host.exists(tool)
