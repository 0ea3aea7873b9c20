"""What a user relies on after the kafka role: a KRaft node that only authenticated
users reach, the declared topics and ACLs, and an idempotent producer's messages read
back in order. Real clients (confluent-kafka) from the controller, over the network."""

import base64
import json
import os
import re
import stat
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

PORT = 9092
METRICS_PORT = 7071
SECRETS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets" / "kafka"
MONITORING_SECRETS = SECRETS.parent / "monitoring"
TOPIC = "okx.trades"
RULES = Path(__file__).resolve().parents[3] / "roles/prometheus/files/rules/kafka.rules.yml"
# Measurements for the report, when the caller names a file (not part of the assertions).
REPORT = os.environ.get("KAFKA_TEST_REPORT", "")


def password(user):
    return (SECRETS / user).read_text().split()[0]


@pytest.fixture(scope="module")
def bootstrap(host):
    return f"{host.interface('eth0').addresses[0]}:{PORT}"


def sasl(bootstrap, user, secret=None):
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password(user) if secret is None else secret,
    }


def test_kafka_runs_enabled_and_pinned(host):
    service = host.service("kafka")
    assert service.is_running
    assert service.is_enabled
    pid = host.run("systemctl show -p MainPID --value kafka").stdout.strip()
    assert host.run(f"taskset -pc {pid}").stdout.split(":")[-1].strip() == "1"


def test_generated_passwords_stay_on_the_controller():
    assert stat.S_IMODE(SECRETS.stat().st_mode) == 0o700
    for user in ("admin", "ingest", "reader"):
        assert stat.S_IMODE((SECRETS / user).stat().st_mode) == 0o600


def test_the_server_properties_are_private_to_the_service(host):
    f = host.file("/etc/kafka/server.properties")
    assert f.mode == 0o640 and f.group == "kafka"


def test_a_client_without_credentials_is_refused(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap, "security.protocol": "PLAINTEXT"})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


def test_a_wrong_password_is_refused(bootstrap):
    admin = AdminClient(sasl(bootstrap, "ingest", "not-the-password-at-all"))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


def test_the_topic_is_as_declared(bootstrap):
    admin = AdminClient(sasl(bootstrap, "admin"))
    topic = admin.list_topics(timeout=10).topics[TOPIC]
    assert len(topic.partitions) == 3
    resource = ConfigResource(ResourceType.TOPIC, TOPIC)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["compression.type"].value == "zstd"
    assert config["retention.ms"].value == "86400000"
    assert config["min.insync.replicas"].value == "1"


def test_no_topic_is_created_by_a_typo(bootstrap):
    admin = AdminClient(sasl(bootstrap, "admin"))
    assert "okx.trade" not in admin.list_topics(timeout=10).topics


def produce(bootstrap, user, records):
    """Send with acks=all and idempotence; returns the delivery errors."""
    errors = []
    producer = Producer({**sasl(bootstrap, user), "enable.idempotence": True, "acks": "all"})

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    try:
        for key, value in records:
            producer.produce(TOPIC, key=key, value=value, on_delivery=delivered)
        producer.flush(30)
    except KafkaException as exc:  # an idempotent producer refused its PID fails fatally
        errors.append(exc)
    return errors


def consume(bootstrap, user, count):
    consumer = Consumer({
        **sasl(bootstrap, user), "group.id": "okx-test", "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([TOPIC])
    found = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                found.append((msg.key(), msg.value()))
            if len(found) >= count:
                break
    finally:
        consumer.close()
    return found


def test_the_ingest_user_writes_and_the_reader_reads_in_order_per_key(bootstrap):
    run = uuid.uuid4().hex[:8]
    keys = (b"ETH-USDT", b"BTC-USDT")
    records = [(keys[i % 2], json.dumps({"run": run, "n": i}).encode()) for i in range(200)]
    assert produce(bootstrap, "ingest", records) == []
    found = [(k, v) for k, v in consume(bootstrap, "reader", 10_000) if json.loads(v)["run"] == run]
    assert len(found) == len(records)
    for key in keys:
        sent = [v for k, v in records if k == key]
        assert [v for k, v in found if k == key] == sent


def test_the_reader_may_not_write(bootstrap):
    errors = produce(bootstrap, "reader", [(b"k", b"v")])
    assert any("authoriz" in str(err).lower() for err in errors)


def test_the_cluster_id_survives_a_converge(host, converge_again):
    meta = "/var/lib/kafka/data/meta.properties"
    before = host.file(meta).content_string
    assert converge_again().returncode == 0
    assert host.file(meta).content_string == before


def test_fewer_partitions_are_refused_with_the_reason(converge_again):
    topics = [{"name": TOPIC, "partitions": 1, "replication_factor": 1}]
    run = converge_again("-e", json.dumps({"kafka_topics": topics}))
    assert run.returncode != 0
    assert "cannot remove partitions" in " ".join((run.stdout + run.stderr).split())


def scrape(address, user=None, secret=None):
    """GET /metrics of the JMX exporter; returns (status, body, seconds)."""
    request = urllib.request.Request(f"http://{address}:{METRICS_PORT}/metrics")
    if user is not None:
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, "", time.monotonic() - started


def report(line):
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def series(body):
    """{name: [(labels, value)]} of a Prometheus text exposition."""
    found = {}
    for line in body.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if match:
            found.setdefault(match[1], []).append((match[2] or "", float(match[3])))
    return found


@pytest.fixture(scope="module")
def address(host):
    return host.interface("eth0").addresses[0]


@pytest.fixture(scope="module")
def metrics(address):
    secret = (MONITORING_SECRETS / "kafka_jmx_exporter_web").read_text().split()[0]
    status = scrape(address, "monitor", secret)[0]
    assert status == 200
    durations = [scrape(address, "monitor", secret)[2] for _ in range(5)]
    _, last, _ = scrape(address, "monitor", secret)
    found = series(last)
    report(f"scrape wall seconds (5 scrapes): {', '.join(f'{d:.3f}' for d in durations)}")
    report(f"jmx_scrape_duration_seconds: {found['jmx_scrape_duration_seconds'][0][1]:.3f}")
    report(f"series lines: {sum(len(v) for v in found.values())}")
    return found


def test_the_exporter_refuses_a_scrape_without_or_with_wrong_credentials(address):
    assert scrape(address)[0] == 401
    assert scrape(address, "monitor", "not-the-password-at-all")[0] == 401


def test_the_exporter_listens_on_the_platform_address_only(host, address):
    listening = host.run("ss -Hltn").stdout
    assert f"{address}:{METRICS_PORT} " in listening
    assert f"0.0.0.0:{METRICS_PORT} " not in listening and f"*:{METRICS_PORT} " not in listening


def test_the_exporter_serves_every_series_the_kafka_alerts_use(metrics):
    rules = yaml.safe_load(RULES.read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(r"\bkafka_\w+", rule["expr"]))
    assert used, "the Kafka alert rules use no kafka_* series"
    missing = sorted(used - set(metrics))
    assert not missing, f"the alert rules use series the exporter does not emit: {missing}"


def test_a_healthy_node_reads_as_healthy(metrics):
    def value(name):
        return sum(v for _labels, v in metrics[name])

    assert value("kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value("kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value("kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value("kafka_server_replicamanager_partitioncount") >= 3
    assert ('{state="leader"}', 1.0) in metrics["kafka_server_raft_metrics_current_state"]
    assert value("kafka_server_raft_metrics_number_of_voters") == 1
    assert "kafka_network_requestmetrics_requests_total" in metrics
    assert "kafka_network_requestmetrics_totaltimems" in metrics
    assert "kafka_server_replicamanager_isrshrinks_total" in metrics
    assert "jvm_memory_used_bytes" in metrics


def test_broker_start_time(host):
    """Not an assertion on speed: records how long the last start took, from systemd
    starting the JVM to Kafka's 'Kafka Server started' line."""
    show = "systemctl show -p ExecMainStartTimestampMonotonic --value kafka"
    start_us = int(host.run(show).stdout)
    log = host.run("journalctl -u kafka -o short-monotonic --no-pager").stdout
    started = [
        float(m[1]) for m in re.finditer(r"^\[\s*([0-9.]+)\].*Kafka Server started", log, re.M)
    ]
    after = [t for t in started if t * 1e6 >= start_us]
    assert after, "Kafka never logged 'Kafka Server started' since its last start"
    seconds = after[0] - start_us / 1e6
    report(f"broker start seconds (JVM start -> Kafka Server started): {seconds:.1f}")
