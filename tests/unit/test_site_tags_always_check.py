"""`ansible-playbook -i inventories/example site.yml --tags always --check` works.

`--tags always` runs only what every role tags `always` (preflight, platform facts,
the installed version, the deployment summary); the rest of each role is skipped, so
a summary must not read anything the skipped parts register (`ingestor__metrics_probe`
was undefined). This runs exactly that command on the example inventory, for real,
with its 14 hosts stood in for by this machine:

- `ansible_connection=local` (and no become, the Python that runs this test), so
  every task runs here; `--tags always` in check mode only reads (stat, slurp,
  package_facts, asserts, set_fact);
- a jsonfile fact cache written beforehand with the facts of each host: Debian 12,
  16 CPUs (the example's CPU plans are for 16-CPU hosts), 64 GiB, its inventory
  address as default_ipv4; `gathering = smart` then uses the cache and gathers nothing;
- the secrets of group_vars/all/vault.yml.example and the sha256 pins the example
  leaves for the operator to fill in, as extra vars.

The play must end with no failed or unreachable host and print the platform summary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "example"
BIN = Path(sys.executable).parent


def _facts(address: str) -> dict:
    return {
        "ansible_architecture": "x86_64",
        "ansible_distribution": "Debian",
        "ansible_distribution_release": "bookworm",
        "ansible_distribution_version": "12.8",
        "ansible_distribution_major_version": "12",
        "ansible_os_family": "Debian",
        "ansible_system": "Linux",
        "ansible_processor_vcpus": 16,
        "ansible_processor_nproc": 16,
        "ansible_memtotal_mb": 65536,
        "ansible_swaptotal_mb": 0,
        "ansible_virtualization_role": "host",
        "ansible_virtualization_type": "kvm",
        "ansible_service_mgr": "systemd",
        "ansible_pkg_mgr": "apt",
        "ansible_default_ipv4": {"address": address, "interface": "ens1f0"},
        "ansible_all_ipv4_addresses": [address],
        "module_setup": True,
        "_ansible_facts_gathered": True,
    }


def _vault_and_pins() -> dict:
    example = yaml.safe_load((INVENTORY / "group_vars/all/vault.yml.example").read_text())
    values = {
        name: f"{name}-example-0123456789"
        if isinstance(value, str)
        else {key: f"https://hooks.example/{key}" for key in value}
        for name, value in example.items()
    }
    values.update(
        clickhouse_repository_key_sha256="0" * 64,
        grafana_apt_key_sha256="1" * 64,
        ansible_connection="local",
        ansible_become=False,
        ansible_python_interpreter=_module_python(),
    )
    return values


def _module_python() -> str:
    # package_facts (apt) needs python3-apt, which the system Python has.
    system = Path("/usr/bin/python3")
    return str(system) if system.exists() else sys.executable


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is not installed next to this Python")
    if shutil.which("apt-get") is None:
        pytest.skip("package_facts (clickhouse version) needs a Debian-family machine")
    work = tmp_path_factory.mktemp("tags_always")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_HOME=str(work / "home"),
        ANSIBLE_LOCAL_TEMP=str(work / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(work / "remote_tmp"),
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(work / "facts"),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
        ANSIBLE_GATHERING="smart",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    listing = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(INVENTORY), "--list"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    hostvars = json.loads(listing.stdout)["_meta"]["hostvars"]
    (work / "facts").mkdir(exist_ok=True)
    for host, variables in hostvars.items():
        facts = _facts(variables.get("hft_address") or variables["ansible_host"])
        # ansible-core 2.19's jsonfile layout (test_facts_came_from_the_cache checks it).
        (work / "facts" / f"s1_{host}").write_text(json.dumps({"__payload__": json.dumps(facts)}))
    extra = work / "extra.json"
    extra.write_text(json.dumps(_vault_and_pins()))
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(INVENTORY),
            "site.yml",
            "--tags",
            "always",
            "--check",
            "-e",
            f"@{extra}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    (work / "stdout").write_text(result.stdout)
    return result, sorted(hostvars)


def _recap(stdout: str) -> dict[str, dict[str, int]]:
    lines = stdout.split("PLAY RECAP")[-1].strip().splitlines()[1:]
    recap = {}
    for line in lines:
        host, _, counts = line.partition(":")
        recap[host.strip()] = {
            key: int(value) for key, value in (item.split("=") for item in counts.split())
        }
    return recap


def test_facts_came_from_the_cache(run):
    result, _ = run
    gathering = result.stdout.split("TASK [Gathering Facts]")[1:]
    assert all("ok: [" not in block.split("TASK [")[0] for block in gathering), result.stdout[:3000]


def test_every_host_passes(run):
    result, hosts = run
    assert "PLAY RECAP" in result.stdout, result.stderr[-3000:]
    recap = _recap(result.stdout)
    assert sorted(recap) == hosts
    bad = {h: c for h, c in recap.items() if c["failed"] or c["unreachable"]}
    assert not bad, (bad, result.stdout[-6000:], result.stderr[-2000:])
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_summary_is_printed(run):
    result, hosts = run
    assert "TASK [Print what was deployed, with endpoints]" in result.stdout
    assert f"okx_hft platform: {len(hosts)} host(s)" in result.stdout
    # Every role with a summary task (tagged always) reports on its hosts, and says
    # when --tags skipped what would tell its state.
    summary = result.stdout.split("TASK [Print what was deployed, with endpoints]")[1]
    for component in ("clickhouse", "redis_exporter", "ingestor"):
        assert f'"  {component}: not checked (' in summary, component
    assert '"  redis: ' in summary
