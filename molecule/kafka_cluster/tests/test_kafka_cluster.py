"""What a user relies on from a three-node Kafka cluster: a producer with acks=all
keeps writing through a rolling restart of every node (a configuration change) and a
kill -9 of one broker, and afterwards every acknowledged message is stored exactly
once, in order per instrument; the controller quorum has its three voters.

Real clients (confluent-kafka) from the controller, real brokers in the containers.
The fault run happens once (module fixture); each test checks one promise of it."""

import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import testinfra
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

DISTRO = os.environ.get("MOLECULE_DISTRO", "12")
NODES = [f"kafka-c{i}-d{DISTRO}" for i in (1, 2, 3)]
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SECRETS = Path(INVENTORY).parent / ".secrets" / "kafka"
DEFAULTS = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"], "roles/kafka/defaults/main.yml")
TOPIC = "okx.trades"
GROUP = "okx-cluster-test"
KEYS = (b"BTC-USDT", b"ETH-USDT", b"SOL-USDT")
PORT = 9092
RATE = 150  # messages a second, all keys together


def node(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def address(name):
    return node(name).interface("eth0").addresses[0]


def sasl(user):
    return {
        "bootstrap.servers": ",".join(f"{address(n)}:{PORT}" for n in NODES),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": (SECRETS / user).read_text().split()[0],
    }


def main_pid(name):
    return node(name).run("systemctl show --property=MainPID --value kafka").stdout.strip()


class SteadyProducer(threading.Thread):
    """Sends (key, n) with n counting up per key at about RATE messages a second;
    records what the cluster acknowledged and every delivery error."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_id = run
        self.sent = 0
        self.acked = []
        self.errors = []
        self.stop = threading.Event()
        self.producer = Producer({
            **sasl("ingest"), "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            "delivery.timeout.ms": 300_000,
        })  # fmt: skip

    def _delivered(self, err, msg):
        if err is None:
            self.acked.append((msg.key(), json.loads(msg.value())["n"]))
        else:
            self.errors.append(str(err))

    def run(self):
        n = 0
        while not self.stop.is_set():
            for key in KEYS:
                value = json.dumps({"run": self.run_id, "n": n}).encode()
                self.producer.produce(TOPIC, key=key, value=value, on_delivery=self._delivered)
                self.sent += 1
            n += 1
            self.producer.poll(0)
            time.sleep(len(KEYS) / RATE)
        self.producer.flush(120)


def wait_until(what, check, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    pytest.fail(f"timed out after {timeout} s waiting until {what}")


def fully_replicated():
    topics = AdminClient(sasl("admin")).list_topics(TOPIC, timeout=10).topics
    partitions = topics[TOPIC].partitions.values()
    return bool(partitions) and all(len(p.isrs) == len(NODES) for p in partitions)


def read_everything(run):
    """Every message of this run, per partition from the beginning to the end offset."""
    consumer = Consumer({**sasl("reader"), "group.id": GROUP, "enable.auto.commit": False})
    partitions = AdminClient(sasl("admin")).list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), 10)[1] for p in partitions}
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in partitions])
    found, done = [], {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + 120
    try:
        while len(done) < len(ends) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            record = json.loads(msg.value())
            if record["run"] == run:
                found.append((msg.key(), record["n"]))
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
    finally:
        consumer.close()
    return found


def quorum_status(name):
    version = yaml.safe_load(DEFAULTS.read_text())["kafka_version"]
    libs = f"/opt/kafka/{version}/kafka_2.13-{version}/libs/*"
    cmd = (
        f"java -Xmx256m -cp '{libs}' -Dlog4j2.configurationFile=/etc/kafka/tools-log4j2.yaml "
        f"org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server {address(name)}:{PORT} "
        "--command-config /etc/kafka/admin.properties describe --status"
    )
    return node(name).check_output(cmd)


@pytest.fixture(scope="module")
def fault_run(converge_again):
    """Rolling restart, then kill -9 of the second node, with the producer writing."""
    run = uuid.uuid4().hex[:8]
    producer = SteadyProducer(run)
    pids_before = {n: main_pid(n) for n in NODES}
    producer.start()
    time.sleep(5)

    # A configuration change on every node: the role restarts them one at a time.
    changed = {"kafka_extra_properties": {"log.cleaner.threads": 2}}
    rolling = converge_again("-e", json.dumps(changed))
    pids_after_rolling = {n: main_pid(n) for n in NODES}
    time.sleep(5)

    victim = NODES[1]
    node(victim).run("systemctl kill --signal=SIGKILL kafka")
    killed_pid = pids_after_rolling[victim]
    wait_until("systemd restarted the broker", lambda: main_pid(victim) not in ("0", killed_pid))
    wait_until("every partition has its three replicas in sync again", fully_replicated)
    time.sleep(5)

    producer.stop.set()
    producer.join(180)
    found = read_everything(run)
    counts = Counter(found)
    summary = {
        "sent": producer.sent,
        "acknowledged": len(producer.acked),
        "delivery_errors": len(producer.errors),
        "found": len(found),
        "duplicated": sum(c - 1 for c in counts.values() if c > 1),
        "missing": len(set(producer.acked) - set(counts)),
    }
    print(f"\nkafka_cluster fault run: {json.dumps(summary)}")
    return {
        "rolling": rolling, "pids_before": pids_before, "pids_after_rolling": pids_after_rolling,
        "producer": producer, "found": found, "counts": counts, "summary": summary,
    }  # fmt: skip


def test_the_rolling_restart_passed_its_health_gates(fault_run):
    rolling = fault_run["rolling"]
    assert rolling.returncode == 0, rolling.stdout[-3000:]
    order = [rolling.stdout.find(f"Restart Kafka on {n}") for n in NODES]
    assert -1 not in order and order == sorted(order), "each node restarted, one after the other"
    assert all(fault_run["pids_before"][n] != fault_run["pids_after_rolling"][n] for n in NODES)


def test_every_acknowledged_message_is_stored_exactly_once(fault_run):
    summary = fault_run["summary"]
    assert fault_run["producer"].errors == []
    assert summary["acknowledged"] == summary["sent"] > 0
    assert summary["missing"] == 0
    assert summary["duplicated"] == 0


def test_each_instrument_stays_in_order(fault_run):
    for key in KEYS:
        numbers = [n for k, n in fault_run["found"] if k == key]
        assert numbers == sorted(numbers) and len(numbers) > 0


def test_the_quorum_has_three_voters(fault_run):
    status = quorum_status(NODES[0])
    voters = next(line for line in status.splitlines() if line.startswith("CurrentVoters"))
    # 4.x prints [{"id": 1, ...}, ...]; older releases printed [1,2,3].
    ids = re.findall(r'"id":\s*(\d+)', voters) or re.findall(r"\d+", voters)
    assert sorted(ids) == ["1", "2", "3"], voters
