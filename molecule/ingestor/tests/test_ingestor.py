"""What a user relies on after the ingestor role, on a 2-CPU systemd container.

Two instances read the local simulator (okx-simulator.service): `a` (BTC-USDT, ETH-USDT;
JSON lines + Redis) pinned to CPU 1 and `b` (BTC-USDT-SWAP; JSON lines + chdb) pinned to
CPU 0, as the scenario's tuning_cpu_plan says; b also has a kafka sink without a broker.
OKX itself is not reachable here.
"""

import json
import re
import time

import pytest

# name -> (metrics port, planned CPUs, instruments)
INSTANCES = {
    "a": (9108, "1", ["BTC-USDT", "ETH-USDT"]),
    "b": (9109, "0", ["BTC-USDT-SWAP"]),
}
STATE = "/var/lib/okx-ingestor"
BIN = "/opt/okx-ingestor/venv/bin/okx-ingestor"


def unit(name):
    return f"okx-ingestor@{name}.service"


def show(host, name, prop):
    return host.run(f"systemctl show -p {prop} --value {unit(name)}").stdout.strip()


def metrics(host, port):
    """The instance's /metrics text (the image has no curl)."""
    script = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/metrics').read().decode())"
    return host.run(f'python3 -c "{script}"').stdout


def messages_total(host, port):
    """Sum of okx_messages_total over every channel and instrument."""
    text = metrics(host, port)
    values = re.findall(r"^okx_messages_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    return sum(float(v) for v in values)


def wait_for(predicate, timeout=60, step=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.parametrize("name", INSTANCES)
def test_instance_is_active_and_enabled(host, name):
    assert host.service(unit(name)).is_running
    assert host.service(unit(name)).is_enabled
    assert show(host, name, "Type") == "notify"


def test_simulator_is_running(host):
    assert host.service("okx-simulator.service").is_running


@pytest.mark.parametrize("name", INSTANCES)
def test_metrics_show_messages_flowing(host, name):
    port = INSTANCES[name][0]
    assert wait_for(lambda: messages_total(host, port) > 0)
    first = messages_total(host, port)
    assert wait_for(lambda: messages_total(host, port) > first, timeout=30)


@pytest.mark.parametrize("name", INSTANCES)
def test_book_loops_run_compiled_on_the_host(host, name):
    """ingestor_speedups (default): pip compiled the C extension against the host's
    Python, and the running service uses it, not the Python fallback."""
    assert 'okx_ingestor_info{speedups="c"} 1.0' in metrics(host, INSTANCES[name][0])
    site = "/opt/okx-ingestor/venv/lib/python3*/site-packages/okx_ingestor"
    assert host.run(f"ls {site}/_speedups.*.so").rc == 0


@pytest.mark.parametrize("name", INSTANCES)
def test_each_instance_gets_only_its_instruments(host, name):
    port, _, instruments = INSTANCES[name]
    text = metrics(host, port)
    seen = set(re.findall(r'^okx_messages_total\{[^}]*inst_id="([^"]+)"', text, re.M))
    assert seen and seen <= set(instruments)


@pytest.mark.parametrize("name", INSTANCES)
def test_json_lines_get_rows(host, name):
    path = f"{STATE}/{name}/rows.jsonl"
    assert wait_for(lambda: host.file(path).exists and host.file(path).size > 0)
    line = host.run(f"tail -n 1 {path}").stdout.strip()
    record = json.loads(line)
    assert record["table"].startswith("hft_data.")
    assert host.file(path).user == "okx-ingestor"


def test_redis_gets_latest_trade_and_bbo(host):
    def keys():
        return set(host.run("redis-cli --scan --pattern 'okx:*'").stdout.split())

    assert wait_for(lambda: {"okx:trade:BTC-USDT", "okx:bbo:BTC-USDT"} <= keys())
    assert not any("SWAP" in k for k in keys())  # instance b has no Redis sink
    price = host.run("redis-cli HGET okx:trade:BTC-USDT price").stdout.strip()
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", price)


def metric(host, port, name, labels=""):
    series = re.escape(name + ("{" + labels + "}" if labels else ""))
    match = re.search(rf"^{series} ([0-9.e+]+)$", metrics(host, port), re.M)
    return float(match.group(1)) if match else 0.0


def test_chdb_sink_stores_rows_and_symbols(host):
    """b's chdb sink: rows acknowledged (metrics), then read back with the instance stopped
    (chdb allows one process per directory), then b runs again."""
    port = INSTANCES["b"][0]
    assert wait_for(lambda: metric(host, port, "okx_sink_rows_total", 'sink="chdb"') > 0)
    assert metric(host, port, "okx_sink_up", 'sink="chdb"') == 1.0
    assert wait_for(lambda: metric(host, port, "okx_symbol_rows_total") >= 1)
    assert host.run(f"systemctl stop {unit('b')}").rc == 0
    try:
        query = (
            f"runuser -u okx-ingestor -- {BIN} query --chdb {STATE}/b/chdb "
            "\"SELECT (SELECT count() FROM hft_data.raw_ticks WHERE inst_id = 'BTC-USDT-SWAP'),"
            " (SELECT any(inst_type) FROM hft_data.symbols WHERE inst_id = 'BTC-USDT-SWAP')\""
        )
        out = host.run(query)
        assert out.rc == 0, out.stderr
        trades, inst_type = out.stdout.split()
        assert int(trades) > 0 and inst_type == "SWAP"
    finally:
        host.run(f"systemctl start {unit('b')}")
    assert wait_for(lambda: messages_total(host, port) > 0, timeout=60)


def test_kafka_sink_without_broker_spools_and_the_rest_flows(host):
    """b's kafka sink has no broker (none installable here): the extra is installed, the
    sink runs under the hardened unit, reports down and spools; chdb keeps receiving."""
    port = INSTANCES["b"][0]
    assert host.run("/opt/okx-ingestor/venv/bin/python -c 'import confluent_kafka'").rc == 0
    assert wait_for(lambda: metric(host, port, "okx_spool_bytes", 'sink="kafka"') > 0)
    # up starts at 1 in a new process (b was just restarted) until its first write fails
    assert wait_for(lambda: metric(host, port, "okx_sink_up", 'sink="kafka"') == 0.0, timeout=30)
    before = metric(host, port, "okx_sink_rows_total", 'sink="chdb"')
    assert wait_for(lambda: metric(host, port, "okx_sink_rows_total", 'sink="chdb"') > before)


@pytest.mark.parametrize("name", INSTANCES)
def test_affinity_matches_the_cpu_plan(host, name):
    planned = INSTANCES[name][1]
    dropin = host.file(f"/etc/systemd/system/{unit(name)}.d/60-cpu-affinity.conf")
    assert f"CPUAffinity={planned}" in dropin.content_string
    pid = show(host, name, "MainPID")
    out = host.run(f"taskset -pc {pid}").stdout
    assert out.strip().endswith(f": {planned}")


def test_kafka_sasl_password_comes_from_the_vault_and_stays_out_of_logs(host):
    conf = host.file("/etc/okx-ingestor/b.yaml").content_string
    for line in ("sasl.username: ingest", "sasl.password: molecule-kafka-sasl-secret",
                 "sasl.mechanism: SCRAM-SHA-512", "security.protocol: SASL_SSL"):  # fmt: skip
        assert line in conf
    journal = host.run("journalctl -u okx-ingestor@b.service --no-pager -o cat").stdout
    assert "molecule-kafka-sasl-secret" not in journal


def test_missing_kafka_password_fails_before_any_change(converge_again):
    run = converge_again("-e", '{"vault_kafka_ingest_password": ""}')
    assert run.returncode != 0
    assert "set vault_kafka_ingest_password" in run.stdout + run.stderr
    assert "changed=0" in run.stdout


def test_config_is_validated_private_and_owned(host):
    for name in INSTANCES:
        conf = host.file(f"/etc/okx-ingestor/{name}.yaml")
        assert (conf.user, conf.group, conf.mode) == ("root", "okx-ingestor", 0o640)
        check = host.run(f"{BIN} check-config --config /etc/okx-ingestor/{name}.yaml")
        assert check.rc == 0, check.stderr
    conf_a = host.file("/etc/okx-ingestor/a.yaml").content_string
    assert "ws://127.0.0.1:8765/ws/v5/public" in conf_a


def test_service_user_is_in_the_platform_group(host):
    user = host.user("okx-ingestor")
    assert "hft" in user.groups
    assert user.shell == "/usr/sbin/nologin"


def test_hardening_settings(host):
    name = "a"
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "RestrictRealtime": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures": "native",
        "UMask": "0027",
        "Restart": "always",
        "WatchdogUSec": "30s",
        "User": "okx-ingestor",
        "ReadWritePaths": f"{STATE}/a",
    }
    for prop, value in expected.items():
        assert show(host, name, prop) == value, prop
    assert show(host, name, "RestrictNamespaces") in ("yes", "")  # systemd prints the set
    assert show(host, name, "SystemCallFilter") != ""


def test_security_exposure_is_low(host):
    out = host.run(f"systemd-analyze security --no-pager {unit('a')}").stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out[-500:]
    exposure = float(match.group(1))
    print(f"systemd-analyze security {unit('a')}: {exposure}")
    assert exposure <= 2.5


def test_simulator_security_exposure_is_at_most_3(host):
    """The simulator runs under the ingestor's sandbox (it answers the instances above);
    the same ceiling as tests/unit/test_systemd_exposure.py."""
    out = host.run("systemd-analyze security --no-pager okx-simulator.service").stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out[-500:]
    print(f"systemd-analyze security okx-simulator.service: {match.group(1)}")
    assert float(match.group(1)) <= 3.0


def test_restarts_after_kill(host):
    name = "a"
    old = show(host, name, "MainPID")
    assert old not in ("", "0")
    host.run(f"kill -9 {old}")

    def back():
        pid = show(host, name, "MainPID")
        return pid not in ("", "0", old) and show(host, name, "ActiveState") == "active"

    assert wait_for(back, timeout=30, step=0.5)
    port = INSTANCES[name][0]
    assert wait_for(lambda: messages_total(host, port) > 0, timeout=30)
