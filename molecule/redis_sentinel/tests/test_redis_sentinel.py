"""After the primary stopped: a replica is the primary, and writes work through it."""

import os
import subprocess
import time
from pathlib import Path

import pytest

SECRETS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets" / "redis"


def password(user):
    return (SECRETS / user).read_text().split()[0]


def cli(host, user, address, port, *args):
    auth = f"REDISCLI_AUTH={password(user)}"
    who = "" if user == "sentinel-default" else f"--user {user}"
    cmd = f"{auth} redis-cli --no-auth-warning {who} -h {address} -p {port} {' '.join(args)}"
    return host.run(cmd).stdout.strip()


def sentinel(host, *args):
    secret = password("sentinel")
    cmd = f"REDISCLI_AUTH={secret} redis-cli --no-auth-warning -p 26379 {' '.join(args)}"
    return host.run(cmd).stdout.strip()


def primary_address(host):
    return sentinel(host, "SENTINEL", "get-master-addr-by-name", "okx-hft").splitlines()[0]


def own_address(host):
    return host.interface("eth0").addresses[0]


def test_sentinel_runs(host):
    assert host.service("redis-sentinel").is_running
    assert host.service("redis-sentinel").is_enabled


def test_sentinels_know_each_other(host):
    info = sentinel(host, "SENTINEL", "master", "okx-hft")
    fields = info.splitlines()
    assert int(fields[fields.index("num-other-sentinels") + 1]) == 2


def test_a_former_replica_is_the_primary(host):
    # The inventory's primary (redis-s1) was stopped by the side effect.
    primary = primary_address(host)
    if host.backend.get_hostname().startswith("redis-s1"):
        assert primary != own_address(host)
        assert not host.service("redis-server").is_running
    assert cli(host, "sentinel", primary, 6379, "ROLE").splitlines()[0] == "master"


def test_writes_work_through_the_new_primary(host):
    name = host.backend.get_hostname()
    primary = primary_address(host)
    assert cli(host, "ingest", primary, 6379, "SET", f"failover:{name}", "ok") == "OK"
    assert cli(host, "ingest", primary, 6379, "GET", f"failover:{name}") == "ok"


def test_running_replica_follows_the_new_primary(host):
    if host.backend.get_hostname().startswith("redis-s1"):
        return  # stopped on purpose
    primary = primary_address(host)
    if primary == own_address(host):
        return  # this host is the new primary
    role = []
    for _ in range(15):
        role = cli(host, "sentinel", "127.0.0.1", 6379, "ROLE").splitlines()
        if role[:2] == ["slave", primary] and role[3] == "connected":
            break
        time.sleep(1)
    assert role[:2] == ["slave", primary]
    assert role[3] == "connected"


ROTATED = "rotated-Sentinel-Secret-42"


def converge(*args):
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(scenario / "converge.yml"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def rotated_sentinel_password():
    """Once for all hosts: converge with a rotated vault_redis_sentinel_password, then
    back to the generated one when the module's tests are done."""
    run = converge("-e", f"vault_redis_sentinel_password={ROTATED}")
    yield run
    restored = converge()
    assert restored.returncode == 0, restored.stdout[-3000:]


def sentinel_with(host, secret, *args):
    cmd = f"REDISCLI_AUTH={secret} redis-cli --no-auth-warning -p 26379 {' '.join(args)}"
    return host.run(cmd)


def test_a_rotated_sentinel_password_reaches_sentinel(host, rotated_sentinel_password):
    """Sentinel's file is written once and then rewritten by Sentinel: the role keeps its
    password lines as the inventory says and restarts the Sentinels one at a time, so the
    rotated password is the one Sentinel asks for and the one it logs in to Redis with
    (issue 14, item 9)."""
    run = rotated_sentinel_password
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Restart redis-sentinel on" in run.stdout
    assert sentinel_with(host, ROTATED, "PING").stdout.strip() == "PONG"
    old = sentinel_with(host, password("sentinel"), "PING")
    assert "PONG" not in old.stdout
    conf = host.run("cat /var/lib/redis/sentinel/sentinel.conf").stdout
    assert f"sentinel auth-pass okx-hft {ROTATED}" in conf
    # auth-pass in use: Sentinel's PINGs to the primary are answered (a refused login
    # would mark it subjectively down after down-after-milliseconds, 2 s here).
    time.sleep(5)
    fields = sentinel_with(host, ROTATED, "SENTINEL", "master", "okx-hft").stdout.split()
    assert fields[fields.index("flags") + 1] == "master"
    assert int(fields[fields.index("last-ok-ping-reply") + 1]) < 2000
