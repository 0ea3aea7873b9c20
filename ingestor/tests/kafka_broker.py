"""A real Apache Kafka broker for the tests: KRaft combined mode on loopback, SCRAM.

The release archive is the one molecule/kafka installs: scripts/kafka-dist.sh assembles
kafka_2.13-<kafka_version>.tgz (the role's pinned version) from Maven Central, cached
under the repository's .cache/kafka-dist. The broker runs as a plain JVM child
(`java -cp 'libs/*' kafka.Kafka server.properties`), no Docker or systemd, with the
role's security model: SASL_PLAINTEXT + SCRAM-SHA-512 for clients, StandardAuthorizer,
`allow.everyone.if.no.acl.found=false`, `admin` the only super user, and `ingest`
allowed what the ingestor needs (write/describe on topics prefixed `okx.`,
idempotent_write on the cluster), as the role's ACLs grant it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "kafka-dist"
INSTALL_HINT = (
    "a real Kafka broker needs Java 17+ and Maven (the archive is assembled from Maven "
    "Central): apt-get install openjdk-17-jre-headless maven"
)


def kafka_version() -> str:
    """The role's pinned `kafka_version` (roles/kafka/defaults/main.yml)."""
    text = (ROOT / "roles" / "kafka" / "defaults" / "main.yml").read_text()
    m = re.search(r'^kafka_version:\s*"?([0-9][^"\s]*)"?', text, re.M)
    assert m, "kafka_version not found in roles/kafka/defaults/main.yml"
    return m.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def archive(version: str) -> Path:
    """kafka_2.13-VERSION.tgz, assembled once (reproducible, so the cached one is it)."""
    out = CACHE / "dist" / f"kafka_2.13-{version}.tgz"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        script = ROOT / "scripts" / "kafka-dist.sh"
        subprocess.run(["bash", str(script), version, f"{out.parent}/", str(CACHE)], check=True)
    return out


def cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: 16 random bytes, base64url."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def server_properties(data: Path, port: int, controller_port: int, admin_pw: str) -> str:
    """KRaft combined mode, as roles/kafka/templates/server.properties.j2 renders it."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
listeners=CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=CLIENT://127.0.0.1:{port}
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.client.scram-sha-512.sasl.jaas.config={scram} required \
username="admin" password="{admin_pw}";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain} required \
username="admin" password="{admin_pw}" user_admin="{admin_pw}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs={data}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


@dataclass
class KafkaBroker:
    """A running broker: `bootstrap`, the users' passwords, client settings, pause()."""

    home: Path
    workdir: Path
    port: int
    passwords: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0
    _java: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def client_config(self, user: str, password: str | None = None) -> dict[str, object]:
        """librdkafka settings of an authenticated client (the sink's `config`)."""
        return {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": self.passwords[user] if password is None else password,
        }

    def admin(self) -> object:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap, **self.client_config("admin")})

    def format_storage(self) -> None:
        scram = [
            arg
            for user, pw in self.passwords.items()
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={pw}]")
        ]
        argv = [*self._java, "kafka.tools.StorageTool", "format", "-t", cluster_id(),
                "-c", str(self.workdir / "server.properties"), *scram]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kafka storage format failed: {done.stdout}{done.stderr}")

    def start(self, timeout: float = 90.0) -> None:
        t0 = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self._java, "-Xmx512m", "-Xms512m", "kafka.Kafka",
                 str(self.workdir / "server.properties")],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            )  # fmt: skip
        self._wait_ready(t0 + timeout)
        self.start_seconds = time.monotonic() - t0

    def _wait_ready(self, deadline: float) -> None:
        from confluent_kafka import KafkaException

        while not self._listening():  # first the port, so librdkafka logs no refusals
            self._check_alive(deadline)
            time.sleep(0.1)
        admin = self.admin()
        while True:
            try:
                admin.list_topics(timeout=2)  # type: ignore[attr-defined]
                return
            except KafkaException:
                self._check_alive(deadline)
                time.sleep(0.1)

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _check_alive(self, deadline: float) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the broker exited ({self.proc.returncode}):\n{self.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not answer in time:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def grant_ingest(self) -> None:
        """The role's producer ACLs: write+describe on okx.*, idempotent_write on the cluster."""
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        def allow(rtype: ResourceType, name: str, pattern: ResourcePatternType,
                  op: AclOperation) -> AclBinding:  # fmt: skip
            return AclBinding(rtype, name, pattern, "User:ingest", "*", op, AclPermissionType.ALLOW)

        prefixed, literal = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
        bindings = [
            allow(ResourceType.TOPIC, "okx.", prefixed, AclOperation.WRITE),
            allow(ResourceType.TOPIC, "okx.", prefixed, AclOperation.DESCRIBE),
            allow(ResourceType.BROKER, "kafka-cluster", literal, AclOperation.IDEMPOTENT_WRITE),
        ]
        admin = self.admin()  # kept alive until the futures resolve
        for future in admin.create_acls(bindings).values():  # type: ignore[attr-defined]
            future.result(timeout=30)

    def create_topics(self, names: list[str], partitions: int = 3) -> None:
        from confluent_kafka.admin import NewTopic

        topics = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        admin = self.admin()
        for future in admin.create_topics(topics).values():  # type: ignore[attr-defined]
            future.result(timeout=30)

    def record_batches(self, topic: str, partition: int) -> list[dict[str, str]]:
        """The partition's record batch headers as the broker stored them (DumpLogSegments)."""
        segments = sorted((self.workdir / "data" / f"{topic}-{partition}").glob("*.log"))
        argv = [*self._java, "kafka.tools.DumpLogSegments", "--files", *map(str, segments)]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        return [
            dict(re.findall(r"(\w+): (\S+)", line))
            for line in out.splitlines()
            if line.startswith("baseOffset:")
        ]

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The broker frozen (SIGSTOP): connections stay open, nothing is answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def java_or_skip() -> str:
    java = shutil.which("java")
    if java is None:
        if os.environ.get("CI"):
            pytest.fail(f"java is missing on CI: {INSTALL_HINT}")
        pytest.skip(f"no java: {INSTALL_HINT}")
    return java


def prepare(version: str) -> KafkaBroker:
    """Extract the archive to a fresh directory, write the properties, format storage."""
    java = java_or_skip()
    tgz = archive(version)
    workdir = Path(tempfile.mkdtemp(prefix="okx-kafka-"))
    with tarfile.open(tgz) as tar:
        tar.extractall(workdir, filter="data")
    home = workdir / f"kafka_2.13-{version}"
    passwords = {u: secrets.token_urlsafe(18) for u in ("admin", "ingest", "guest")}
    broker = KafkaBroker(home, workdir, free_port(), passwords)
    props = server_properties(workdir / "data", broker.port, free_port(), passwords["admin"])
    (workdir / "server.properties").write_text(props)
    log4j = f"-Dlog4j2.configurationFile={home / 'config' / 'log4j2.yaml'}"
    broker._java = [java, log4j, "-cp", f"{home}/libs/*"]
    broker.format_storage()
    return broker


@contextlib.contextmanager
def running_broker() -> Iterator[KafkaBroker]:
    """A formatted, started broker with the ingest user's ACLs; removed afterwards."""
    pytest.importorskip("confluent_kafka")
    broker = prepare(kafka_version())
    try:
        broker.start()
        broker.grant_ingest()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real broker for the whole session (start-up is the expensive part)."""
    with running_broker() as broker:
        yield broker
