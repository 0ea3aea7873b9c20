"""What a user relies on after the redis role: an authenticated-only Redis, configured as asked."""

import os
import socket
import stat
from pathlib import Path

import pytest

PORT = 6379
SECRETS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets" / "redis"


def password(user):
    return (SECRETS / user).read_text().split()[0]


def cli(host, user, *args, pw=None):
    """redis-cli on the host as ``user``; the password goes through the environment."""
    secret = password(user) if pw is None else pw
    cmd = "REDISCLI_AUTH={} redis-cli --no-auth-warning --user {} -h 127.0.0.1 -p {} {}".format(
        secret, user, PORT, " ".join(args)
    )
    return host.run(cmd)


def config_get(host, name):
    out = cli(host, "ops", "CONFIG", "GET", name).stdout.splitlines()
    return out[1] if len(out) > 1 else None


def address(host):
    return host.interface("eth0").addresses[0]


def remote(host, *commands):
    """Talk RESP from the controller to the host's platform address (not loopback)."""
    with socket.create_connection((address(host), PORT), timeout=5) as conn:
        replies = []
        for command in commands:
            parts = command.split()
            payload = f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts)
            conn.sendall(payload.encode())
            replies.append(conn.recv(4096).decode().strip())
        return replies


def test_redis_runs_and_is_enabled(host):
    service = host.service("redis-server")
    assert service.is_running
    assert service.is_enabled


def test_generated_passwords_are_private_to_the_controller():
    assert stat.S_IMODE(SECRETS.stat().st_mode) == 0o700
    for user in ("ingest", "ops", "exporter"):
        assert stat.S_IMODE((SECRETS / user).stat().st_mode) == 0o600
        assert len(password(user)) == 32


def test_acl_user_can_write_and_read(host):
    assert cli(host, "ingest", "SET", "molecule:key", "42").stdout.strip() == "OK"
    assert cli(host, "ingest", "GET", "molecule:key").stdout.strip() == "42"


def test_acl_user_cannot_run_admin_commands(host):
    assert "NOPERM" in cli(host, "ingest", "CONFIG", "GET", "maxmemory").stdout


def test_monitoring_user_reads_metrics_only(host):
    assert "redis_version:" in cli(host, "exporter", "INFO", "server").stdout
    assert "NOPERM" in cli(host, "exporter", "SET", "molecule:key", "1").stdout
    assert "NOPERM" in cli(host, "exporter", "FLUSHALL").stdout


def test_wrong_password_is_refused(host):
    run = cli(host, "ingest", "PING", pw="not-the-password")
    assert "WRONGPASS" in run.stdout + run.stderr


def test_unauthenticated_remote_client_is_refused(host):
    # From the controller to the host's address: no default user, no access.
    (reply,) = remote(host, "PING")
    assert reply.startswith("-NOAUTH"), reply


def test_remote_client_with_acl_user_is_served(host):
    replies = remote(host, "AUTH ingest " + password("ingest"), "PING")
    assert replies == ["+OK", "+PONG"]


def test_aclfile_holds_hashes_only(host):
    acl = host.file("/etc/redis/users.acl")
    assert acl.user == "redis" and acl.group == "redis" and acl.mode == 0o640
    content = host.run("cat /etc/redis/users.acl").stdout
    assert "user default off" in content
    for user in ("ingest", "ops", "exporter"):
        assert password(user) not in content
        assert f"user {user} on" in content
    assert content.count(" #") >= 3


def test_config_is_not_writable_by_the_server(host):
    # /etc/redis is read-only for redis-server: CONFIG REWRITE cannot drift the file.
    assert "ERR" in cli(host, "ops", "CONFIG", "REWRITE").stdout
    assert host.file("/etc/redis/redis.conf").user == "root"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("save", "3600 1 300 100 60 10000"),
        ("maxmemory", str(64 * 1024 * 1024)),
        ("maxmemory-policy", "noeviction"),
        ("protected-mode", "yes"),
        ("latency-monitor-threshold", "2"),
        ("disable-thp", "yes"),
        ("tcp-backlog", "511"),
        ("io-threads", "1"),
    ],
)
def test_running_configuration(host, name, expected):
    assert config_get(host, name) == expected


def test_bind_covers_platform_address_and_loopback(host):
    bind = config_get(host, "bind").split()
    assert address(host) in bind and "127.0.0.1" in bind


def test_affinity_dropin_and_actual_affinity(host):
    dropins = "/etc/systemd/system/redis-server.service.d/"
    assert "CPUAffinity=1" in host.file(dropins + "60-cpu-affinity.conf").content_string
    assert "LimitNOFILE=65536" in host.file(dropins + "60-okx-hft.conf").content_string
    pid = host.run("systemctl show -p MainPID --value redis-server").stdout.strip()
    assert host.run("taskset -pc " + pid).stdout.split(":")[-1].strip() == "1"


def test_missing_password_fails_before_any_change(host, converge_again):
    # Without generation and without the vault variable, the play stops in preflight,
    # names the variable, changes nothing and prints no password.
    run = converge_again("-e", '{"redis_generate_passwords": false}')
    assert run.returncode != 0
    assert "set vault_redis_ingest_password" in run.stdout + run.stderr
    assert "changed=0" in run.stdout
    assert password("ingest") not in run.stdout + run.stderr


def server_info(host):
    lines = cli(host, "ops", "INFO", "server").stdout.splitlines()
    return dict(line.strip().split(":", 1) for line in lines if ":" in line)


def test_acl_change_is_loaded_without_a_restart(host, converge_again):
    """A rotated ACL password reaches the running server with ACL LOAD: the new one
    works, the old one is refused, the keys are still there and the server did not
    restart (same run_id; a restart would empty a cache-mode Redis) (issue 14, item 9)."""
    old = password("ingest")
    rotated = "rotated-Ingest-Secret-42"
    assert cli(host, "ingest", "SET", "molecule:survives", "yes").stdout.strip() == "OK"
    before = server_info(host)
    try:
        run = converge_again("-e", f"vault_redis_ingest_password={rotated}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert "Restart redis-server on" not in run.stdout
        assert cli(host, "ingest", "PING", pw=rotated).stdout.strip() == "PONG"
        refused = cli(host, "ingest", "PING", pw=old)
        assert "WRONGPASS" in refused.stdout + refused.stderr
        after = server_info(host)
        assert after["run_id"] == before["run_id"]
        assert int(after["uptime_in_seconds"]) >= int(before["uptime_in_seconds"])
        assert cli(host, "ingest", "GET", "molecule:survives", pw=rotated).stdout.strip() == "yes"
    finally:
        run = converge_again()
        assert run.returncode == 0, run.stdout[-3000:]
    assert cli(host, "ingest", "PING").stdout.strip() == "PONG"
    assert server_info(host)["run_id"] == before["run_id"]


def test_a_changed_redis_conf_restarts_with_a_health_wait(host, converge_again):
    """A changed redis.conf restarts the server through the rolling restart: restarted,
    answering PING before the play goes on (issue 14, item 9)."""
    before = server_info(host)["run_id"]
    try:
        run = converge_again("-e", '{"redis_slowlog_max_len": 300}')
        assert run.returncode == 0, run.stdout[-3000:]
        assert "Restart redis-server on" in run.stdout
        assert "Wait until it answers PING, redis-server on" in run.stdout
        assert server_info(host)["run_id"] != before
        assert config_get(host, "slowlog-max-len") == "300"
    finally:
        assert converge_again().returncode == 0
