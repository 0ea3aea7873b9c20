"""What a desk relies on after the monitoring roles: every target scraped, the platform's
rules loaded, an alert reaching Alertmanager when a target stops, services pinned to the
housekeeping CPUs. Queries go through the HTTP APIs with curl inside the container."""

from __future__ import annotations

import json
import time

import pytest

# The passwords converge.yml gives the roles, as the vault would.
WEB_USER = "monitor"
PASSWORDS = {
    9090: "test-only-prometheus-web",
    9093: "test-only-alertmanager-web",
    9100: "test-only-node-exporter-web",
    9121: "test-only-redis-exporter-web",
}
REDIS_PASSWORD = "test-only-redis-password"


@pytest.fixture(scope="module")
def address(host):
    """The host's platform address: where every endpoint listens (not 0.0.0.0)."""
    return host.check_output("hostname -I").split()[0]


@pytest.fixture(scope="module")
def urls(address):
    return {"prometheus": f"http://{address}:9090", "alertmanager": f"http://{address}:9093"}


SERVICES = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-redis-exporter",
]


def get_json(host, url):
    port = int(url.split(":")[2].split("/")[0])
    out = host.check_output(f"curl -fsS --max-time 5 -u {WEB_USER}:{PASSWORDS[port]} '{url}'")
    return json.loads(out)


def http_status(host, url, auth=None, method="GET"):
    cred = f"-u '{auth}'" if auth else ""
    return host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 -X {method} {cred} '{url}'"
    )


def wait_for(predicate, timeout=90, step=3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def prometheus_url(host):
    return f"http://{host.check_output('hostname -I').split()[0]}:9090"


def alertmanager_url(host):
    return f"http://{host.check_output('hostname -I').split()[0]}:9093"


def query(host, expr):
    from urllib.parse import quote

    data = get_json(host, f"{prometheus_url(host)}/api/v1/query?query={quote(expr)}")
    assert data["status"] == "success", data
    return data["data"]["result"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_enabled_on_housekeeping_cpu(host, name):
    service = host.service(name)
    assert service.is_running
    assert service.is_enabled
    pid = host.check_output(f"systemctl show -p MainPID --value {name}")
    assert host.check_output(f"taskset -pc {pid}").split(":")[-1].strip() == "0"


# Each service as its own system user (the roles' <role>_user / <role>_group defaults),
# not Debian's shared `prometheus`.
SERVICE_USERS = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "alertmanager",
    "prometheus-node-exporter": "node-exporter",
    "prometheus-redis-exporter": "redis-exporter",
}


@pytest.mark.parametrize(("name", "user"), SERVICE_USERS.items())
def test_service_runs_as_its_own_user(host, name, user):
    pid = host.check_output(f"systemctl show -p MainPID --value {name}")
    # /proc/PID belongs to the process's effective user and group.
    assert host.check_output(f"stat -c '%U %G' /proc/{pid}").split() == [user, user]


def test_alertmanager_storage_belongs_to_alertmanager(host):
    storage = host.file("/var/lib/prometheus/alertmanager")
    assert (storage.user, storage.group) == ("alertmanager", "alertmanager")
    assert host.file("/etc/prometheus/alertmanager.yml").group == "alertmanager"
    override = host.check_output("dpkg-statoverride --list /var/lib/prometheus/alertmanager")
    assert override == "alertmanager alertmanager 750 /var/lib/prometheus/alertmanager"


def test_every_target_is_up(host):
    def targets():
        active = get_json(host, f"{prometheus_url(host)}/api/v1/targets")["data"]["activeTargets"]
        if active and all(t["health"] == "up" for t in active):
            return active
        return None

    active = wait_for(targets)
    assert active, get_json(host, f"{prometheus_url(host)}/api/v1/targets")
    jobs = {t["labels"]["job"] for t in active}
    assert jobs == {"node", "prometheus", "alertmanager", "redis"}
    # Every target carries the inventory name: inhibition and rules group by it.
    assert {t["labels"]["host"] for t in active} == {host.backend.get_hostname()}


def test_redis_and_cpu_plan_metrics(host):
    assert wait_for(lambda: query(host, "redis_up == 1"))
    # Only the platform's targets (they carry `host`): Debian's package first starts
    # Prometheus with its default config, which scrapes localhost:9100 as job "node"
    # until ours replaces it; those series stay visible for the 5-minute lookback.
    isolated = wait_for(lambda: query(host, 'okx_cpu_isolated{host!=""}'))
    assert [r["metric"]["cpu"] for r in isolated] == ["1"]


def test_platform_rules_are_loaded(host):
    groups = get_json(host, f"{prometheus_url(host)}/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {
        "okx_hft.platform",
        "okx_hft.ingestor",
        "okx_hft.clickhouse",
        "okx_hft.redis",
        "okx_hft.kafka",
        "okx_hft.host",
    } <= names
    alerts = {r["name"] for g in groups for r in g["rules"]}
    assert {"IngestChannelStopped", "BookChecksumFailures", "TargetDown"} <= alerts
    assert all(g["rules"] and all(r["health"] != "err" for r in g["rules"]) for g in groups)


def test_retention_by_time_and_size(host):
    flags = get_json(host, f"{prometheus_url(host)}/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == "30d"
    # Prometheus's size units are powers of 1024 and it reports them as such.
    assert flags["storage.tsdb.retention.size"] in {"50GB", "50GiB"}


def test_reload_keeps_the_process(host):
    pid = host.check_output("systemctl show -p MainPID --value prometheus")
    host.run_expect([0], "systemctl reload prometheus")
    time.sleep(2)
    assert host.check_output("systemctl show -p MainPID --value prometheus") == pid
    assert query(host, "prometheus_config_last_reload_successful")[0]["value"][1] == "1"


def test_alertmanager_has_the_routes_and_inhibitions(host):
    status = get_json(host, f"{alertmanager_url(host)}/api/v2/status")
    config = status["config"]["original"]
    assert 'alertname = "HostDown"' in config or 'alertname="HostDown"' in config
    assert "desk" in config
    mode = host.file("/etc/prometheus/alertmanager.yml").mode
    assert mode == 0o640


def alerts_named(host, name):
    url = f"{alertmanager_url(host)}/api/v2/alerts?filter=alertname%3D%22{name}%22"
    return get_json(host, url)


def test_an_alert_fires_when_a_target_stops_and_host_down_inhibits_it(host):
    hostname = host.backend.get_hostname()
    host.run_expect([0], "systemctl stop prometheus-redis-exporter")
    try:

        def redis_target_down():
            found = alerts_named(host, "TargetDown")
            return [a for a in found if a["labels"].get("job") == "redis"]

        alerts = wait_for(redis_target_down, timeout=150, step=5)
        assert alerts, "TargetDown for job redis never reached Alertmanager"
        alert = alerts[0]
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["host"] == hostname
        assert "runbook" in alert["annotations"]
        assert alert["status"]["state"] == "active"
        assert [r["name"] for r in alert["receivers"]] == ["desk"]

        # The whole host now looks down: HostDown fires and silences the host's other
        # alerts (inhibit rule source HostDown, equal: host).
        host.run_expect([0], "systemctl stop prometheus-node-exporter")

        def inhibited():
            if not alerts_named(host, "HostDown"):
                return None
            found = redis_target_down()
            if found and found[0]["status"]["state"] == "suppressed":
                return found[0]
            return None

        suppressed = wait_for(inhibited, timeout=150, step=5)
        assert suppressed, alerts_named(host, "TargetDown")
        assert suppressed["status"]["inhibitedBy"]
    finally:
        host.run_expect([0], "systemctl start prometheus-node-exporter")
        host.run_expect([0], "systemctl start prometheus-redis-exporter")


# --- Exposure: where the endpoints listen, and who may read them (issue 14) ---------


@pytest.mark.parametrize("port", [9090, 9093, 9100, 9121])
def test_endpoint_listens_on_the_platform_address_only(host, address, port):
    listeners = host.check_output(f"ss -Hltn 'sport = :{port}'").splitlines()
    local = {line.split()[3] for line in listeners}
    assert local == {f"{address}:{port}"}, listeners


def redis_exporter_has_basic_auth(host):
    return (
        "basic-auth-username"
        in host.run("prometheus-redis-exporter --help").stderr
        + host.run("prometheus-redis-exporter --help").stdout
    )


@pytest.mark.parametrize(
    ("port", "path"),
    [
        (9090, "/api/v1/targets"),
        (9090, "/-/ready"),
        (9093, "/api/v2/status"),
        (9093, "/api/v2/silences"),
        (9100, "/metrics"),
        (9121, "/metrics"),
        (9121, "/scrape?target=redis://127.0.0.1:6379"),
    ],
)
def test_web_endpoints_need_basic_auth(host, address, port, path):
    if port == 9121 and not redis_exporter_has_basic_auth(host):
        pytest.skip("this prometheus-redis-exporter (Debian 12's 1.45) has no web authentication")
    url = f"http://{address}:{port}{path}"
    assert http_status(host, url) == "401"
    assert http_status(host, url, f"{WEB_USER}:not-the-password") == "401"
    assert http_status(host, url, f"{WEB_USER}:{PASSWORDS[port]}") == "200"


def test_a_silence_needs_basic_auth(host, address):
    url = f"http://{address}:9093/api/v2/silences"
    assert http_status(host, url, method="POST") == "401"
    assert http_status(host, f"http://{address}:9093/api/v2/silence/x", method="DELETE") == "401"


@pytest.mark.parametrize(
    ("path", "password"),
    [
        ("/etc/prometheus/web.yml", "test-only-prometheus-web"),
        ("/etc/prometheus/alertmanager-web.yml", "test-only-alertmanager-web"),
        ("/etc/prometheus/node-exporter-web.yml", "test-only-node-exporter-web"),
    ],
)
def test_web_configs_hold_a_bcrypt_hash_not_the_password(host, path, password):
    f = host.file(path)
    assert f.mode == 0o640 and f.user == "root"
    content = f.content_string
    assert f'{WEB_USER}: "$2b$10$' in content
    assert password not in content


def test_the_redis_exporter_gets_the_redis_password_from_a_map_only(host):
    env = host.file("/etc/default/okx-hft-redis-exporter")
    assert env.mode == 0o600
    assert REDIS_PASSWORD not in env.content_string
    passwords = host.file("/etc/prometheus/redis-exporter-passwords.json")
    assert passwords.mode == 0o640 and passwords.group == "redis-exporter"
    assert json.loads(passwords.content_string) == {"redis://127.0.0.1:6379": REDIS_PASSWORD}


LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 16379)); s.listen(5); s.settimeout(20)
c, _ = s.accept(); c.settimeout(3)
data = b""
try:
    while len(data) < 4096:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
        c.sendall(b"-ERR not redis\\r\\n")
except OSError:
    pass
open("/tmp/okx-fake-redis.bin", "wb").write(data)
"""


def test_scrape_of_another_target_does_not_send_the_redis_password(host, address):
    """A real listener records what the exporter sends when told to scrape it."""
    host.run("rm -f /tmp/okx-fake-redis.bin /tmp/okx-fake-redis.py")
    host.run(f"cat > /tmp/okx-fake-redis.py <<'PY'\n{LISTENER}\nPY")
    host.run("setsid -f python3 /tmp/okx-fake-redis.py >/dev/null 2>&1")
    time.sleep(1)
    auth = f"-u {WEB_USER}:{PASSWORDS[9121]}"
    host.run(
        f"curl -s -o /dev/null --max-time 15 {auth} "
        f"'http://{address}:9121/scrape?target=redis://127.0.0.1:16379'"
    )
    received = wait_for(
        lambda: (
            host.file("/tmp/okx-fake-redis.bin").exists
            and host.file("/tmp/okx-fake-redis.bin").content
        ),
        timeout=30,
        step=1,
    )
    assert received, "the exporter never connected to the other target"
    assert REDIS_PASSWORD.encode() not in received
    assert b"AUTH" not in received.upper()
    # ... while its own Redis is still scraped with the password.
    assert query(host, "redis_up == 1")
