"""What a user relies on after the clickhouse role, on Debian's clickhouse-server 18.16:
the server answers on the configured ports, each user can do exactly its job, no
password is stored or logged in clear text, and the server runs on its CPUs."""

import os
import shlex
from pathlib import Path

import pytest

HTTP = 8123
TCP = 9003
SECRETS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets" / "clickhouse"
ADMIN_PASSWORD = "molecule-admin-Secret-7"


def password(user):
    if user == "admin":
        return ADMIN_PASSWORD
    return (SECRETS / user).read_text().split()[0]


def query(host, user, sql, database=None, address="127.0.0.1"):
    """clickhouse-client on the host as ``user`` (`default`: without a password)."""
    argv = ["clickhouse-client", "--host", address, "--port", str(TCP), "--user", user]
    if user in ("admin", "ingest", "analyst"):
        argv += ["--password", password(user)]
    if database:
        argv += ["--database", database]
    argv += ["--query", sql]
    return host.run(" ".join(shlex.quote(a) for a in argv))


def open_files(limits):
    """Soft and hard 'Max open files' of a /proc/<pid>/limits text."""
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    return line.split()[3:5]


def address(host):
    return host.interface("eth0").addresses[0]


def test_server_runs_and_is_enabled(host):
    service = host.service("clickhouse-server")
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize("port", [HTTP, TCP])
def test_listens_on_loopback_and_the_platform_address(host, port):
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert host.socket(f"tcp://{address(host)}:{port}").is_listening


def test_http_ping_answers(host):
    assert host.check_output(f"curl -fsS http://127.0.0.1:{HTTP}/ping") == "Ok."


def test_old_dialect_and_drop_ins_only(host):
    """18.16 gets <yandex>; the packaged config.xml and users.xml are untouched."""
    server = host.file("/etc/clickhouse-server/config.d/okx-hft-server.xml")
    assert "<yandex>" in server.content_string
    assert "<prometheus>" not in server.content_string
    assert "<tcp_port>9003</tcp_port>" in server.content_string
    assert not host.file("/etc/clickhouse-server/config.d/okx-hft-storage.xml").exists
    # (The test image leaves out /usr/share/doc: dpkg reports only those as missing.)
    changed = host.run("dpkg --verify clickhouse-server").stdout
    assert "/etc/clickhouse-server" not in changed


def test_admin_can_create_a_database(host):
    assert query(host, "admin", "CREATE DATABASE IF NOT EXISTS molecule_scratch").rc == 0
    assert query(host, "admin", "DROP DATABASE molecule_scratch").rc == 0


def test_migrations_were_applied_by_the_module(host):
    out = query(host, "admin", "SELECT count() FROM hft_meta.schema_migrations")
    assert out.rc == 0, out.stderr
    assert int(out.stdout) == 2


def test_ingest_inserts_into_hft_data_only(host):
    insert = query(
        host,
        "ingest",
        "INSERT INTO ticks_smoke SELECT 'BTC-USDT', now(), 100.5",
        database="hft_data",
    )
    assert insert.rc == 0, insert.stderr
    denied = query(host, "ingest", "SELECT count() FROM hft_analytics.daily_smoke", "hft_data")
    assert denied.rc != 0
    assert query(host, "ingest", "CREATE DATABASE ingest_must_not", "hft_data").rc != 0


def test_analyst_reads_and_cannot_write(host):
    query(host, "admin", "INSERT INTO hft_data.ticks_smoke SELECT 'ETH-USDT', now(), 3000")
    read = query(host, "analyst", "SELECT count() FROM hft_data.ticks_smoke", "hft_analytics")
    assert read.rc == 0, read.stderr
    assert int(read.stdout) >= 1
    insert = query(
        host, "analyst", "INSERT INTO hft_data.ticks_smoke SELECT 'X', now(), 1", "hft_analytics"
    )
    assert insert.rc != 0
    assert "readonly" in insert.stderr.lower()
    assert query(host, "analyst", "CREATE DATABASE analyst_must_not", "hft_analytics").rc != 0
    limits = query(
        host,
        "analyst",
        "SELECT value FROM system.settings WHERE name = 'max_execution_time'",
        "hft_analytics",
    )
    assert limits.stdout.strip() == "60"


def test_default_user_is_gone(host):
    """The package's password-less `default` user is removed: no local process reads
    the market data without naming itself (issue 14, item 3)."""
    local = query(host, "default", "SELECT 1")
    assert local.rc != 0
    assert "Unknown user default" in local.stderr
    assert query(host, "default", "SELECT 1", address=address(host)).rc != 0
    # Without --user, clickhouse-client is `default` too.
    assert host.run(f"clickhouse-client --port {TCP} --query 'SELECT 1'").rc != 0
    # The package's passwordless example user is gone.
    assert query(host, "readonly", "SELECT 1").rc != 0


INTERSERVER = "http://127.0.0.1:9009/?endpoint=DataPartsExchange:x&part=y"


def test_interserver_port_requires_credentials(host):
    """A replica fetch without the interserver credentials, or with wrong ones, is
    refused with 401; the right ones get past authentication (issue 14, item 2)."""
    code = "curl -s -o /dev/null -w '%{http_code}' "
    assert host.check_output(code + shlex.quote(INTERSERVER)) == "401"
    assert host.check_output(code + "-u interserver:wrong " + shlex.quote(INTERSERVER)) == "401"
    right = f"interserver:{password('interserver-http')}"
    assert host.check_output(code + f"-u {shlex.quote(right)} " + shlex.quote(INTERSERVER)) != "401"


def uptime(host):
    return int(query(host, "admin", "SELECT uptime()").stdout)


def test_users_change_is_reloaded_not_restarted(host, converge_again):
    """A rotated password reaches the server without a restart: the new one works, the
    old one is refused, and the server's uptime keeps counting (issue 14, item 9)."""
    old = password("analyst")
    before = uptime(host)
    rotated = "rotated-Analyst-Secret-42"
    try:
        run = converge_again("-e", f"vault_clickhouse_analyst_password={rotated}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert "Reload clickhouse users" in run.stdout or "reload its users" in run.stdout
        assert "Restart ClickHouse on" not in run.stdout
        argv = f"clickhouse-client --port {TCP} --user analyst --query 'SELECT 1' --password "
        assert host.run(argv + shlex.quote(rotated)).rc == 0
        assert host.run(argv + shlex.quote(old)).rc != 0
        assert uptime(host) >= before
    finally:
        run = converge_again()
        assert run.returncode == 0, run.stdout[-3000:]
    assert query(host, "analyst", "SELECT 1", "hft_analytics").rc == 0
    assert uptime(host) >= before


def test_wrong_password_is_refused(host):
    argv = f"clickhouse-client --port {TCP} --user admin --password wrong-password"
    assert host.run(f"{argv} --query 'SELECT 1'").rc != 0


def test_passwords_are_never_stored_or_logged_in_clear(host):
    users = host.file("/etc/clickhouse-server/users.d/okx-hft-users.xml")
    assert users.mode == 0o640
    assert users.user == "root" and users.group == "clickhouse"
    assert "password_sha256_hex" in users.content_string
    # Runs through `docker exec` as root, without sudo: the greps are not journalled.
    for user in ("admin", "ingest", "analyst"):
        secret = password(user)
        found = host.run(
            f"grep -rlF {shlex.quote(secret)} /etc/clickhouse-server /var/log/clickhouse-server"
            " /var/lib/clickhouse/preprocessed_configs /etc/systemd/system"
        )
        assert found.stdout == "", f"{user}'s password in {found.stdout}"
        journal = host.run(f"journalctl --no-pager | grep -cF {shlex.quote(secret)}")
        assert journal.stdout.strip() == "0", f"{user}'s password in the journal"


def test_generated_passwords_are_private_on_the_controller():
    for user in ("ingest", "analyst"):
        path = SECRETS / user
        assert path.stat().st_mode & 0o777 == 0o600
    assert SECRETS.stat().st_mode & 0o777 == 0o700


def test_service_is_pinned_to_cpu_1(host):
    dropins = "/etc/systemd/system/clickhouse-server.service.d"
    # From the CPU plan, through the tuning role's shared entry point.
    assert "CPUAffinity=1" in host.file(f"{dropins}/60-cpu-affinity.conf").content_string
    own = host.file(f"{dropins}/okx-hft.conf").content_string
    assert "LimitNOFILE=500000" in own
    assert "CPUAffinity" not in own
    pid = host.check_output("systemctl show -p MainPID --value clickhouse-server")
    assert host.check_output(f"taskset -pc {pid}").endswith(": 1")
    limits = host.file(f"/proc/{pid}/limits").content_string
    # systemd cannot raise a limit above its own hard limit (Docker's ulimit in a test
    # container): the server gets LimitNOFILE or that cap.
    cap = host.file("/proc/1/limits").content_string
    expected = min(500000, int(open_files(cap)[1]))
    assert open_files(limits) == [str(expected), str(expected)]


def test_systemd_exposure_is_at_most_3(host):
    """The drop-in sandboxes the server: systemd-analyze rates the merged unit 3.0 or
    less (Debian's unit alone: 9.2) (issue 14, item 8)."""
    out = host.check_output("systemd-analyze security --no-pager clickhouse-server.service")
    score = float(out.splitlines()[-1].split("level for clickhouse-server.service:")[1].split()[0])
    assert score <= 3.0, out
    caps = host.check_output("systemctl show -p CapabilityBoundingSet --value clickhouse-server")
    assert set(caps.split()) == {"cap_net_admin", "cap_ipc_lock", "cap_sys_nice"}
