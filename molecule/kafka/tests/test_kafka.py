"""What a user relies on after the kafka role: a KRaft node that only authenticated
users reach, the declared topics and ACLs, and an idempotent producer's messages read
back in order. Real clients (confluent-kafka) from the controller, over the network."""

import json
import os
import stat
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

PORT = 9092
SECRETS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets" / "kafka"
TOPIC = "okx.trades"


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
