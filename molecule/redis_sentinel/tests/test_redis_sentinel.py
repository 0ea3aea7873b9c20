"""After the primary stopped: a replica is the primary, and writes work through it."""

import os
import time
from pathlib import Path

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
