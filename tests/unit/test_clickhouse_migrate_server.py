"""The migration engine and the clickhouse_migrate module against a real
clickhouse-server over the native protocol.

Debian's clickhouse-server 18.16 is the only server installable here, so these tests
use a small migration set in its old dialect (files/sql needs 26.x and is tested with
chdb). The fixture starts a private server on free loopback ports and stops it after
the session. If clickhouse-server is missing the tests FAIL (CI must not pass without
them); set OKX_HFT_SKIP_SERVER_TESTS=1 to skip them on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import clickhouse
import migrations

SKIP_ENV = "OKX_HFT_SKIP_SERVER_TESTS"

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log>
    <errorlog>{d}/server.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <migrator><password>s3cret</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></migrator>
  </users>
</yandex>
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(params: clickhouse.ConnectionParams, process: subprocess.Popen) -> None:
    """Readiness poll (not a timing assertion): the server answers or it died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            clickhouse.connect(params).close()
            return
        except ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"clickhouse-server did not start; see {params.host}:{params.port} logs")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = shutil.which("clickhouse-server")
    if binary is None:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"clickhouse-server not installed and {SKIP_ENV}=1")
        pytest.fail(
            "clickhouse-server is not installed: run `bash scripts/ensure-test-deps.sh` as "
            f"root (make unit does), or set {SKIP_ENV}=1 to skip these tests"
        )
    directory = tmp_path_factory.mktemp("clickhouse-server")
    tcp = free_port()
    (directory / "users.xml").write_text(USERS)
    (directory / "config.xml").write_text(CONFIG.format(d=directory, tcp=tcp, http=free_port()))
    log = (directory / "stdout.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config-file={directory / 'config.xml'}"], stdout=log, stderr=log
    )
    params = clickhouse.ConnectionParams(host="127.0.0.1", port=tcp, send_receive_timeout=60)
    try:
        wait_until_ready(params, process)
        yield params
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@pytest.fixture
def executor(server):
    connection = clickhouse.connect(server)
    yield connection
    connection.close()


OLD_DIALECT = {
    "0001_events.sql": (
        "-- old dialect (18.16): MergeTree() with ORDER BY, no TTL\n"
        "CREATE DATABASE IF NOT EXISTS ${db_data};\n"
        "CREATE TABLE IF NOT EXISTS ${db_data}.events\n"
        "(id UInt64, note String) ENGINE = MergeTree() ORDER BY id;\n"
    ),
    "0002_seed.sql": (
        "/* semicolons; inside comments and strings do not split */\n"
        "INSERT INTO ${db_data}.events SELECT 1, 'semi;colon';\n"
        "INSERT INTO ${db_data}.events SELECT 2, 'it''s';\n"
    ),
    "0003_view.sql": (
        "CREATE VIEW IF NOT EXISTS ${db_data}.notes AS SELECT note FROM ${db_data}.events;\n"
    ),
}


@pytest.fixture
def names():
    """Fresh database names per test, so tests do not see each other's bookkeeping."""
    suffix = uuid.uuid4().hex[:8]
    return {"meta": f"meta_{suffix}", "data": f"data_{suffix}"}


def write_set(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def options(path: Path, names: dict[str, str], **extra) -> migrations.Options:
    return migrations.Options(
        path=path, database=names["meta"], variables={"db_data": names["data"]}, **extra
    )


def rows(executor, sql: str) -> list[tuple]:
    return executor.query(sql)


def test_applies_in_order_records_bookkeeping_and_is_idempotent(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    first = migrations.migrate(executor, options(path, names))
    second = migrations.migrate(executor, options(path, names))
    assert first.applied == sorted(OLD_DIALECT)
    assert (second.applied, second.pending, second.current_version) == ([], [], 3)
    records = rows(
        executor,
        "SELECT version, name, checksum, duration_ms, applied_by, applied_at > toDateTime(0) "
        f"FROM {names['meta']}.schema_migrations ORDER BY version",
    )
    assert [(r[0], r[1], r[2]) for r in records] == [
        (n, name, migrations.checksum(OLD_DIALECT[name]))
        for n, name in enumerate(sorted(OLD_DIALECT), start=1)
    ]
    assert all(r[4] and r[5] == 1 for r in records)
    assert rows(executor, f"SELECT id, note FROM {names['data']}.events ORDER BY id") == [
        (1, "semi;colon"),
        (2, "it's"),
    ]


def test_target_stops_at_the_requested_version(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    result = migrations.migrate(executor, options(path, names, target=2))
    assert result.applied == ["0001_events.sql", "0002_seed.sql"]
    assert result.pending == ["0003_view.sql"]
    assert migrations.migrate(executor, options(path, names)).applied == ["0003_view.sql"]


def test_check_mode_lists_pending_and_creates_nothing(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    result = migrations.migrate(executor, options(path, names, check_mode=True))
    assert result.pending == sorted(OLD_DIALECT) and result.applied == []
    assert result.statements["0002_seed.sql"][0].startswith(f"INSERT INTO {names['data']}.events")
    assert rows(
        executor, f"SELECT count() FROM system.databases WHERE name = '{names['meta']}'"
    ) == [(0,)]


FAILING = {
    "0001_events.sql": OLD_DIALECT["0001_events.sql"],
    "0002_import.sql": (
        "INSERT INTO ${db_data}.events SELECT 10, 'runs once';\n"
        "INSERT INTO ${db_data}.events SELECT id, note FROM ${db_data}.feed;\n"
        "INSERT INTO ${db_data}.events SELECT 30, 'after';\n"
    ),
}


def test_failed_file_names_the_statement_and_resumes_there(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", FAILING)
    with pytest.raises(migrations.StatementError) as failure:
        migrations.migrate(executor, options(path, names))
    message = str(failure.value)
    assert "0002_import.sql: statement 2 of 3 (line 2" in message
    assert "feed" in message and "doesn't exist" in message
    applied = rows(executor, f"SELECT name FROM {names['meta']}.schema_migrations")
    assert applied == [("0001_events.sql",)]

    executor.execute(f"CREATE TABLE {names['data']}.feed (id UInt64, note String) ENGINE = Log")
    executor.execute(f"INSERT INTO {names['data']}.feed SELECT 20, 'from feed'")
    result = migrations.migrate(executor, options(path, names))
    assert result.applied == ["0002_import.sql"]
    assert result.statements["0002_import.sql"] == [
        f"INSERT INTO {names['data']}.events SELECT id, note FROM {names['data']}.feed",
        f"INSERT INTO {names['data']}.events SELECT 30, 'after'",
    ]
    assert rows(executor, f"SELECT id FROM {names['data']}.events ORDER BY id") == [
        (10,),
        (20,),
        (30,),
    ]


def test_editing_a_partly_applied_file_refuses_to_resume(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", FAILING)
    with pytest.raises(migrations.StatementError):
        migrations.migrate(executor, options(path, names))
    (path / "0002_import.sql").write_text(FAILING["0002_import.sql"].replace("30", "31"))
    with pytest.raises(migrations.ChecksumMismatchError, match=r"0002_import\.sql changed after"):
        migrations.migrate(executor, options(path, names))


def test_changed_applied_file_fails_naming_it_unless_allowed(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    migrations.migrate(executor, options(path, names))
    (path / "0002_seed.sql").write_text(OLD_DIALECT["0002_seed.sql"] + "-- edited\n")
    with pytest.raises(migrations.ChecksumMismatchError, match=r"0002_seed\.sql was changed"):
        migrations.migrate(executor, options(path, names))
    accepted = migrations.migrate(executor, options(path, names, allow_checksum_change=True))
    assert accepted.applied == [] and "0002_seed.sql" in accepted.warnings[0]


def test_two_concurrent_runs_apply_each_migration_once(server, tmp_path, names):
    files = {
        f"{n:04d}_step.sql": (
            ("CREATE DATABASE IF NOT EXISTS ${db_data};\n" if n == 1 else "")
            + "CREATE TABLE IF NOT EXISTS ${db_data}.steps (n UInt32) ENGINE = Log;\n"
            + f"INSERT INTO ${{db_data}}.steps SELECT {n};\n"
        )
        for n in range(1, 7)
    }
    path = write_set(tmp_path / "sql", files)
    barrier = threading.Barrier(2)
    results: list[migrations.MigrationResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        connection = clickhouse.connect(server)
        try:
            barrier.wait()
            results.append(migrations.migrate(connection, options(path, names, lock_timeout=60)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    migrations.Bookkeeping(clickhouse.connect(server), names["meta"]).ensure()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = [name for result in results for name in result.applied]
    assert sorted(applied) == sorted(files)  # every file once, by one of the two runs
    check = clickhouse.connect(server)
    assert check.query(f"SELECT n FROM {names['data']}.steps ORDER BY n") == [
        (n,) for n in range(1, 7)
    ]
    check.close()


def hold_lock(executor, meta: str, owner: str, seconds: int) -> None:
    migrations.Bookkeeping(executor, meta).ensure()
    executor.execute(
        f"INSERT INTO {meta}.schema_migrations_lock "
        "(lock_name, token, owner, event, created_at, expires_at) "
        f"SELECT 'schema', '{uuid.uuid4().hex}', '{owner}', 'claim', now(), now() + {seconds}"
    )


def test_live_lock_blocks_and_names_its_owner(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    hold_lock(executor, names["meta"], "ops@bastion:42", seconds=600)
    with pytest.raises(migrations.LockTimeoutError, match="ops@bastion:42"):
        migrations.migrate(executor, options(path, names, lock_timeout=0))
    assert rows(executor, f"SELECT count() FROM {names['meta']}.schema_migrations") == [(0,)]


def test_stale_lock_of_a_dead_run_expires(executor, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    hold_lock(executor, names["meta"], "crashed@host:1", seconds=-1)
    result = migrations.migrate(executor, options(path, names, lock_timeout=0))
    assert result.applied == sorted(OLD_DIALECT)


# ------------------------------------------------------------------ the Ansible module


def run_playbook(
    tmp_path: Path, server, task_args: dict, *flags: str,
    module: str = "okx_hft.infra.clickhouse_migrate",
) -> dict:  # fmt: skip
    """Run one of the collection's ClickHouse modules through ansible-playbook on localhost."""
    collections = tmp_path / "collections" / "ansible_collections" / "okx_hft"
    collections.mkdir(parents=True, exist_ok=True)
    link = collections / "infra"
    if not link.exists():
        link.symlink_to(ROOT)
    args = {"login_host": server.host, "login_port": server.port, **task_args}
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{module: args, "register": "out"}],
        }
    ]
    playbook = tmp_path / "play.json"
    playbook.write_text(json.dumps(play))
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}",
        str(playbook), *flags,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.stdout.startswith("{"), done.stderr + done.stdout
    return json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_check_mode_apply_and_rerun(server, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    args = {
        "path": str(path),
        "database": names["meta"],
        "data_database": names["data"],
        "login_user": "migrator",
        "login_password": "s3cret",
    }
    checked = run_playbook(tmp_path, server, args, "--check", "--diff")
    assert checked["changed"] is True and checked["applied"] == []
    assert checked["pending"] == sorted(OLD_DIALECT)
    assert f"CREATE TABLE IF NOT EXISTS {names['data']}.events" in checked["diff"]["after"]

    applied = run_playbook(tmp_path, server, args)
    assert applied["changed"] is True, applied.get("msg")
    assert applied["applied"] == sorted(OLD_DIALECT) and applied["current_version"] == 3
    assert applied["server_version"].startswith("18.16")

    again = run_playbook(tmp_path, server, args)
    assert (again["changed"], again["applied"], again["current_version"]) == (False, [], 3)


def test_module_reports_connection_and_checksum_problems(server, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    args = {"path": str(path), "database": names["meta"], "data_database": names["data"]}
    wrong = run_playbook(
        tmp_path, server, {**args, "login_user": "migrator", "login_password": "x"}
    )
    assert wrong["failed"] is True and "cannot connect to ClickHouse" in wrong["msg"]
    hidden = wrong["invocation"]["module_args"]["login_password"]
    assert hidden == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

    assert run_playbook(tmp_path, server, args)["changed"] is True
    (path / "0001_events.sql").write_text(OLD_DIALECT["0001_events.sql"] + "-- edited\n")
    edited = run_playbook(tmp_path, server, args)
    assert edited["failed"] is True and "0001_events.sql was changed" in edited["msg"]


def run_migrate_playbook(tmp_path: Path, server, sql: Path, meta: str, *flags: str) -> dict:
    """playbooks/migrate.yml with localhost as the only member of group clickhouse."""
    inventory = {
        "all": {
            "children": {
                "clickhouse": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    extra = {
        "clickhouse_migrate_become": False,
        "clickhouse_migrate_install_driver": False,
        "clickhouse_migrate_sql_dir": str(sql),
        "clickhouse_migrate_database": meta,
        "clickhouse_tcp_port": server.port,
        "clickhouse_admin_user": "migrator",
        "vault_clickhouse_admin_password": "s3cret",
    }
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    collections = tmp_path / "collections" / "ansible_collections" / "okx_hft"
    collections.mkdir(parents=True, exist_ok=True)
    if not (collections / "infra").exists():
        (collections / "infra").symlink_to(ROOT)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
    }
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", str(tmp_path / "inventory.json"),
        "-e", f"@{tmp_path / 'extra.json'}",
        str(ROOT / "playbooks" / "migrate.yml"), *flags,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.stdout.startswith("{"), done.stderr + done.stdout
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    return {t["task"]["name"]: t["hosts"].get("localhost", {}) for t in tasks}


def test_migrate_playbook_applies_once_and_cleans_up(server, tmp_path, names):
    sql = write_set(tmp_path / "sql", OLD_DIALECT)
    checked = run_migrate_playbook(tmp_path, server, sql, names["meta"], "--check")
    assert checked["Apply pending migrations"]["pending"] == sorted(OLD_DIALECT)

    first = run_migrate_playbook(tmp_path, server, sql, names["meta"])
    applied = first["Apply pending migrations"]
    assert applied["changed"] is True and applied["applied"] == sorted(OLD_DIALECT)
    staging = first["Create a private staging directory for the SQL files"]["path"]
    assert not Path(staging).exists()

    second = run_migrate_playbook(tmp_path, server, sql, names["meta"])
    assert second["Apply pending migrations"]["changed"] is False


def test_module_refuses_a_ttl_beyond_datetime_before_connecting(server, tmp_path, names):
    path = write_set(tmp_path / "sql", OLD_DIALECT)
    args = {"path": str(path), "database": names["meta"], "ttl_raw_days": 29000}
    out = run_playbook(tmp_path, server, {**args, "login_port": 1})  # nothing listens there
    assert out["failed"] is True
    assert out["msg"].startswith("ttl_raw_days = 29000 is out of range: use 1-28999 days")


def test_data_quality_module_refuses_a_server_without_window_functions(server, tmp_path):
    """The module end to end (driver, login, no_log) on the only server here: 18.16 is
    named and refused; the checks themselves run on 26.x (test_quality_checks.py)."""
    args = {
        "path": str(ROOT / "files/sql/checks"),
        "login_user": "migrator",
        "login_password": "s3cret",
    }
    for flags in ((), ("--check",)):
        out = run_playbook(tmp_path, server, args, *flags,
                           module="okx_hft.infra.clickhouse_data_quality")  # fmt: skip
        assert out["failed"] is True
        assert "ClickHouse 18.16" in out["msg"] and "cannot run the data-quality" in out["msg"]
        assert "s3cret" not in json.dumps(out)
