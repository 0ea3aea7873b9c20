"""prometheus.yml and alertmanager.yml generated from a production-like inventory
(inventories/example: 3 ClickHouse, 3 Kafka, 3 Redis, 2 ingest hosts...), rendered by
the roles' own templates through ansible-playbook on the controller, then checked by
promtool / amtool exactly as the roles' `validate:` does on a host.

promtool and amtool are required (scripts/ensure-test-deps.sh, run by
`make unit`): missing tools fail these tests.
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
RECEIVERS = {"desk-chat": "https://chat.example/hooks/x", "desk-pager": "https://pager.example/y"}
# The monitoring endpoints' basic-auth passwords, as the vault provides them.
WEB_PASSWORDS = {
    f"vault_{name}_web_password": f"{name}-web-example"
    for name in (
        "prometheus",
        "alertmanager",
        "node_exporter",
        "redis_exporter",
        "kafka_jmx_exporter",
    )
}

PLAYBOOK = """
- hosts: monitoring
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    ansible_facts: {architecture: x86_64}
    root: "{{ lookup('ansible.builtin.env', 'OKX_ROOT') }}"
    out: "{{ lookup('ansible.builtin.env', 'OKX_OUT') }}"
  tasks:
    - ansible.builtin.include_role: {name: okx_hft.infra.common, tasks_from: platform_facts}
    - ansible.builtin.include_role:
        {name: okx_hft.infra.prometheus, tasks_from: preflight, public: true}
    - ansible.builtin.include_role:
        {name: okx_hft.infra.alertmanager, tasks_from: preflight, public: true}
    - ansible.builtin.template:
        src: "{{ root }}/roles/prometheus/templates/prometheus.yml.j2"
        dest: "{{ out }}/prometheus.yml"
        mode: "0644"
    - ansible.builtin.template:
        src: "{{ root }}/roles/alertmanager/templates/alertmanager.yml.j2"
        dest: "{{ out }}/alertmanager.yml"
        mode: "0644"
"""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `bash scripts/ensure-test-deps.sh`")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("monitoring-config"))


def render(out: Path, **overrides) -> Path:
    playbook = out / "render.yml"
    playbook.write_text(PLAYBOOK)
    extra = {
        "vault_alertmanager_receiver_urls": RECEIVERS,
        "alertmanager_default_receiver": "desk-chat",
        "alertmanager_critical_receiver": "desk-pager",
        **WEB_PASSWORDS,
        **overrides,
    }
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "OKX_ROOT": str(ROOT),
        "OKX_OUT": str(out),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    run = subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "-i",
            str(INVENTORY),
            str(playbook),
            "-e",
            json.dumps(extra),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def inventory_hosts() -> dict[str, dict]:
    data = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    hosts: dict[str, dict] = {}

    def walk(node):
        for name, hv in (node.get("hosts") or {}).items():
            hosts.setdefault(name, hv or {})
        for child in (node.get("children") or {}).values():
            walk(child or {})

    walk(data["all"])
    return hosts


def group(name: str) -> list[str]:
    data = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    return list(data["all"]["children"][name].get("hosts") or {})


def test_promtool_accepts_the_generated_config(rendered):
    path = rendered / "prometheus.yml"
    run = subprocess.run(
        [tool("promtool"), "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_component_is_scraped_on_every_host_of_its_group(rendered):
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    hosts = inventory_hosts()
    expected = {
        "node": (list(hosts), 9100),
        "prometheus": (group("monitoring"), 9090),
        "alertmanager": (group("monitoring"), 9093),
        "clickhouse": (group("clickhouse"), 9363),
        "redis": (group("redis"), 9121),
        "kafka": (group("kafka"), 7071),
        "ingestor": (group("ingest"), 9108),
    }
    assert set(jobs) == set(expected)
    for job, (members, port) in expected.items():
        got = {sc["labels"]["host"]: sc["targets"][0] for sc in jobs[job]["static_configs"]}
        assert set(got) == set(members), job
        for name, target in got.items():
            assert target == f"{hosts[name]['ansible_host']}:{port}", (job, name)
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == [f"{hosts[h]['ansible_host']}:9093" for h in group("monitoring")]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]


def test_the_platform_endpoints_are_scraped_with_their_basic_auth(rendered):
    """node_exporter, Prometheus, Alertmanager and the Redis exporter require basic auth
    (issue 14): Prometheus logs in to each with that service's vault password, and
    sends alerts to Alertmanager with Alertmanager's."""
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for job, service in {
        "node": "node_exporter",
        "prometheus": "prometheus",
        "alertmanager": "alertmanager",
        "redis": "redis_exporter",
        "kafka": "kafka_jmx_exporter",
    }.items():
        assert jobs[job]["basic_auth"] == {
            "username": "monitor",
            "password": WEB_PASSWORDS[f"vault_{service}_web_password"],
        }, job
    alerting = config["alerting"]["alertmanagers"][0]
    assert alerting["basic_auth"] == {
        "username": "monitor",
        "password": WEB_PASSWORDS["vault_alertmanager_web_password"],
    }


def test_amtool_accepts_the_generated_config(rendered):
    run = subprocess.run(
        [tool("amtool"), "check-config", str(rendered / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_routing_receivers_and_inhibition(rendered):
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    route = config["route"]
    assert route["receiver"] == "desk-chat"
    assert route["group_by"] == ["alertname", "host"]
    critical = [r for r in route["routes"] if r["receiver"] == "desk-pager"]
    assert critical and critical[0]["matchers"] == ['severity = "critical"']
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"blackhole", *RECEIVERS}
    for name, url in RECEIVERS.items():
        assert receivers[name]["webhook_configs"][0]["url"] == url
    host_down = [
        r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname = "HostDown"']
    ]
    assert host_down and host_down[0]["equal"] == ["host"]


def test_no_kafka_target_where_the_exporter_does_not_run(tmp_path):
    """Hosts of the kafka group whose kafka_jmx_exporter_enabled is false are not
    scraped: prometheus.yml names no target where nothing listens."""
    out = render(tmp_path, kafka_jmx_exporter_enabled=False)
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    assert "kafka" not in {j["job_name"] for j in config["scrape_configs"]}
