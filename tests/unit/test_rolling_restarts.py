"""Restarts and reloads of the clickhouse, redis and ingestor roles (issue 14, item 9).

- every restart handler first marks the notified host, then ONE run (run_once) walks the
  marked hosts and restarts them one at a time through tasks/restart.yml, where each
  restart is followed by a health wait (retries until healthy; exhausted retries fail
  the play) before the next host;
- ClickHouse users.d changes notify a reload (SYSTEM RELOAD CONFIG, then every user logs
  in), never the restart; Redis ACL changes notify ACL LOAD, and only a refused ACL
  LOAD marks the host for the rolling restart, which runs after it;
- Sentinel's password lines follow the inventory and restart Sentinel one at a time;
- the TLS listeners of Redis are rendered only with a certificate and key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

templating = pytest.importorskip("ansible.template", reason="pip install ansible-core")

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load(path: Path):
    return yaml.safe_load(path.read_text())


def topics(handler) -> list[str]:
    listen = handler.get("listen", handler["name"])
    return listen if isinstance(listen, list) else [listen]


def by_topic(role: str, topic: str) -> list[dict]:
    return [h for h in load(ROLES / role / "handlers/main.yml") if topic in topics(h)]


ROLLING = [
    ("clickhouse", "Restart clickhouse-server", "ansible.builtin.uri"),
    ("redis", "Restart redis-server", "ansible.builtin.command"),
    ("redis", "Restart redis-sentinel", "ansible.builtin.command"),
    ("ingestor", "Restart okx-ingestor instances", "ansible.builtin.uri"),
]


@pytest.mark.parametrize(("role", "topic", "probe"), ROLLING, ids=[t for _, t, _ in ROLLING])
def test_restarts_mark_then_walk_one_host_at_a_time(role, topic, probe):
    handlers = by_topic(role, topic)
    assert "ansible.builtin.set_fact" in handlers[0], "the first handler marks the host"
    walks = [h for h in handlers if "ansible.builtin.include_tasks" in h]
    assert len(walks) == 1
    walk = walks[0]
    assert walk["run_once"] is True
    assert walk["ansible.builtin.include_tasks"] == "restart.yml"
    assert "loop" in walk
    # No handler restarts the service on every notified host at once, except
    # ClickHouse's fresh cluster (Keeper needs its quorum), which is guarded by rolling.
    for handler in handlers:
        if "ansible.builtin.systemd_service" in handler:
            assert role == "clickhouse"
            assert any("clickhouse__rolling" in w for w in handler["when"])
    steps = load(ROLES / role / "tasks/restart.yml")
    modules = [next(k for k in step if k.startswith("ansible.builtin.")) for step in steps]
    restart = modules.index("ansible.builtin.systemd_service")
    wait = steps[restart + 1]
    assert probe in wait and "until" in wait and int(str(wait["delay"])) > 0
    assert "delegate_to" in steps[restart] and "delegate_to" in wait


def notify_of(role: str, tasks: str, name_part: str) -> list[str]:
    for task in load(ROLES / role / "tasks" / tasks):
        if name_part in task.get("name", ""):
            notify = task["notify"]
            return notify if isinstance(notify, list) else [notify]
    raise AssertionError(f"no task '{name_part}' in {role}/tasks/{tasks}")


def test_clickhouse_users_are_reloaded_not_restarted():
    assert notify_of("clickhouse", "configure.yml", "users, profiles") == [
        "Reload clickhouse users"
    ]
    reload = by_topic("clickhouse", "Reload clickhouse users")
    assert reload[0]["ansible.builtin.uri"]["body"] == "SYSTEM RELOAD CONFIG"
    assert all(h.get("no_log") for h in reload)
    names = [h["name"] for h in load(ROLES / "clickhouse/handlers/main.yml")]
    assert names.index(reload[-1]["name"]) < names.index("Mark the server for a restart")


def test_redis_acl_is_loaded_and_a_refusal_falls_back_to_the_rolling_restart():
    assert notify_of("redis", "configure.yml", "ACL users") == ["Reload redis ACL"]
    handlers = load(ROLES / "redis/handlers/main.yml")
    acl = handlers[0]
    assert acl["ansible.builtin.command"]["argv"][-2:] == ["ACL", "LOAD"]
    assert acl["no_log"] is True and "REDISCLI_AUTH" in acl["environment"]
    fallback = handlers[1]
    assert fallback["ansible.builtin.set_fact"] == {"redis__restart_pending": True}
    walk = next(
        h for h in handlers if h["name"] == "Restart the marked redis-servers one at a time"
    )
    assert set(topics(walk)) == {"Restart redis-server", "Reload redis ACL"}
    assert handlers.index(walk) > handlers.index(fallback)


def render_redis_conf(**overrides) -> str:
    from ansible.parsing.dataloader import DataLoader

    def trust(value):
        if isinstance(value, str):
            return templating.trust_as_template(value)
        if isinstance(value, list):
            return [trust(v) for v in value]
        if isinstance(value, dict):
            return {k: trust(v) for k, v in value.items()}
        return value

    variables = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        variables.update(trust(load(ROLES / "redis" / name)))
    variables.update(
        inventory_hostname="redis-1",
        ansible_managed="Ansible managed",
        ansible_facts={"memtotal_mb": 2048, "default_ipv4": {"address": "10.20.2.11"}},
        hft_platform={"address": "10.20.2.11"},
        redis_passwords={"replication": "replication-Pw-1"},
    )
    variables.update(overrides)
    templar = templating.Templar(loader=DataLoader(), variables=variables)
    source = (ROLES / "redis/templates/redis.conf.j2").read_text()
    return templar.template(templating.trust_as_template(source))


def test_redis_tls_is_off_by_default():
    assert "tls-" not in render_redis_conf()


def test_redis_tls_listener_with_a_certificate():
    conf = render_redis_conf(
        redis_tls_certificate="/etc/redis/tls/redis.crt",
        redis_tls_private_key="/etc/redis/tls/redis.key",
    ).splitlines()
    assert "tls-port 6380" in conf
    assert "tls-cert-file /etc/redis/tls/redis.crt" in conf
    assert "tls-key-file /etc/redis/tls/redis.key" in conf
    assert "tls-auth-clients no" in conf
    assert not any(line.startswith("tls-ca-cert-file") for line in conf)
    assert "port 6379" in conf, "the plain port stays"
