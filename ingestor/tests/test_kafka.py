"""Kafka sink: topic per channel, key = instId, value = row JSON; config validation.

No Kafka broker is installable here, so the live path is not tested: a fake producer
records what would be sent, and the real confluent-kafka client (when installed) is
only checked to accept the generated settings and to report an unreachable broker.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.config import ConfigError, parse_config
from okx_ingestor.schema import TABLES, row_to_json
from okx_ingestor.sinks import KafkaSink, SinkRejected, SinkUnavailable, kafka_producer_config

TICK = ("BTC-USDT", 1, 1_700_000_000_123, "42219.9", "0.12060306", "buy", 1, 0, 5,
        1_700_000_000_123_456)  # fmt: skip
BOOK = ("ETH-USDT", "books-l2-tbt", "update", 1_700_000_000_200, 11, 10, 0,
        [["2000.1", "3", "0", "1"]], [], 1_700_000_000_200_001)  # fmt: skip


def batch(table: str, rows: list[tuple[object, ...]]) -> Batch:
    return Batch(table, rows, batch_token(table, rows), 0)


class FakeError:
    def __init__(self, name: str, fatal: bool = False) -> None:
        self._name, self._fatal = name, fatal

    def name(self) -> str:
        return self._name

    def fatal(self) -> bool:
        return self._fatal

    def __str__(self) -> str:
        return self._name


class FakeProducer:
    def __init__(self, conf: dict[str, object]) -> None:
        self.conf = conf
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail: FakeError | None = None
        self.unacked = 0
        self._callbacks: list[Any] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        self.sent.append((topic, key, value))
        self._callbacks.append(on_delivery)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for cb in self._callbacks:
            cb(self.fail, None)
        self._callbacks.clear()
        return self.unacked


def make(**settings: object) -> tuple[KafkaSink, FakeProducer]:
    made: list[FakeProducer] = []

    def factory(conf: dict[str, object]) -> FakeProducer:
        made.append(FakeProducer(conf))
        return made[-1]

    sink = KafkaSink({"bootstrap_servers": "k1:9092", **settings}, producer_factory=factory)
    return sink, made[0]


def test_one_topic_per_channel_keyed_by_inst_id_with_row_json() -> None:
    sink, producer = make(topic_prefix="lab.okx.")
    sink.write(batch("hft_data.raw_ticks", [TICK]))
    sink.write(batch("hft_data.book_l2", [BOOK]))
    sink.write(batch("hft_data.mark_prices", [("BTC-USDT-SWAP", "SWAP", 1, "1.5", 2)]))
    topics = [(t, k) for t, k, _ in producer.sent]
    assert topics == [
        ("lab.okx.trades", b"BTC-USDT"),
        ("lab.okx.books-l2-tbt", b"ETH-USDT"),
        ("lab.okx.mark-price", b"BTC-USDT-SWAP"),
    ]
    assert orjson.loads(producer.sent[0][2]) == row_to_json(TABLES["raw_ticks"], TICK)
    book = orjson.loads(producer.sent[1][2])
    assert book["bid_prices"] == ["2000.1"] and book["ts"] == "2023-11-14 22:13:20.200"


def test_producer_settings() -> None:
    conf = kafka_producer_config(
        {"bootstrap_servers": ["a:9092", "b:9092"], "config": {"socket.timeout.ms": 500}}
    )
    assert conf["bootstrap.servers"] == "a:9092,b:9092"
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True
    assert conf["socket.timeout.ms"] == 500


def test_unacknowledged_messages_are_transient_and_size_errors_permanent() -> None:
    sink, producer = make()
    producer.unacked = 1
    with pytest.raises(SinkUnavailable, match="did not acknowledge 1 messages"):
        sink.write(batch("hft_data.raw_ticks", [TICK]))
    producer.unacked = 0
    producer.fail = FakeError("_MSG_TIMED_OUT")
    with pytest.raises(SinkUnavailable):
        sink.write(batch("hft_data.raw_ticks", [TICK]))
    producer.fail = FakeError("MSG_SIZE_TOO_LARGE")
    with pytest.raises(SinkRejected) as err:
        sink.write(batch("hft_data.raw_ticks", [TICK]))
    assert err.value.kind == "kafka MSG_SIZE_TOO_LARGE"


def config(kafka: dict[str, object]) -> dict[str, object]:
    return {"instruments": ["BTC-USDT"], "sinks": {"kafka": kafka}}


def test_valid_kafka_config() -> None:
    cfg = parse_config(config({"bootstrap_servers": "k1:9092,k2:9092", "topic_prefix": "okx.",
                               "acks": "all", "compression": "zstd", "linger_ms": 0}))  # fmt: skip
    assert cfg.sinks["kafka"]["compression"] == "zstd"


@pytest.mark.parametrize(
    ("kafka", "key"),
    [
        ({}, "sinks.kafka.bootstrap_servers"),
        ({"bootstrap_servers": "k1"}, "sinks.kafka.bootstrap_servers"),
        ({"bootstrap_servers": "k1:9092", "topic_prefix": "okx/"}, "sinks.kafka.topic_prefix"),
        ({"bootstrap_servers": "k1:9092", "acks": 2}, "sinks.kafka.acks"),
        ({"bootstrap_servers": "k1:9092", "acks": 1}, "sinks.kafka.acks"),
        ({"bootstrap_servers": "k1:9092", "compression": "brotli"}, "sinks.kafka.compression"),
        ({"bootstrap_servers": "k1:9092", "linger_ms": -1}, "sinks.kafka.linger_ms"),
        ({"bootstrap_servers": "k1:9092", "flush_timeout_s": 0}, "sinks.kafka.flush_timeout_s"),
        ({"bootstrap_servers": "k1:9092", "topic": "x"}, "sinks.kafka.topic"),
        ({"bootstrap_servers": "k1:9092", "config": {"a": [1]}}, "sinks.kafka.config.a"),
    ],
)
def test_bad_kafka_config_names_the_key(kafka: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config(kafka))
    assert err.value.key == key


def test_real_client_accepts_the_settings_and_reports_no_broker() -> None:
    pytest.importorskip("confluent_kafka")
    raw = {"bootstrap_servers": "127.0.0.1:1", "acks": 1, "idempotence": False}
    KafkaSink(parse_config(config(raw)).sinks["kafka"]).close()
    sink = KafkaSink({"bootstrap_servers": "127.0.0.1:1", "flush_timeout_s": 0.5,
                      "config": {"message.timeout.ms": 400}})  # fmt: skip
    with pytest.raises(SinkUnavailable):
        sink.write(batch("hft_data.raw_ticks", [TICK]))
