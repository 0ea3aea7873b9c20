#!/usr/bin/env python3
"""The ingestor's Kafka sink against a real broker on loopback, beside a raw producer.

    .venv/bin/python bench/kafka_sink.py [--batch 1000 50000] [--rows 200000] [--json]

Starts the test broker of ingestor/tests/kafka_broker.py (the role's pinned Apache
Kafka, KRaft combined mode, SASL_PLAINTEXT + SCRAM-SHA-512, StandardAuthorizer; one JVM
with -Xmx512m) and prints its start time, then for each batch size writes --rows trades
(6 instruments, interleaved) to a 3-partition topic, twice, alternating batch by batch:
  sink  KafkaSink.write(batch) as the service calls it: rows -> row JSON (orjson) ->
        produce, then flush until every message is acknowledged (idempotent, acks=all,
        lz4, linger 5 ms: the sink's defaults), as the user `ingest`;
  raw   a confluent-kafka Producer with the same settings producing the same values,
        encoded beforehand, then flush(): what the client alone costs.
Reported: messages/s (rows / wall time of the writes), per-batch latency (write() until
the last acknowledgement) p50/p99, per-message acknowledgement latency p50/p99 (librdkafka's
Message.latency(): produce() to broker ack, so it includes queueing behind the batch),
the ratio sink/raw of messages/s, and the sink's encoding time per batch (the part of
the gap that is rows -> JSON). The sink's ack latencies come from a second sink whose
producer wraps each delivery callback (a Python call per message), run batch by batch
beside the plain one so the rate above is not slowed by the measuring. Wall time on a
shared machine: noise included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ingestor" / "tests"))

import orjson
from confluent_kafka import Producer
from kafka_broker import KafkaBroker, running_broker
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.schema import TABLES, row_to_json
from okx_ingestor.sinks import KafkaSink, kafka_messages, kafka_producer_config

INSTRUMENTS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "BTC-USDT-SWAP", "ETH-USDT-SWAP", "OKB-USDT"]
TABLE = "hft_data.raw_ticks"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Kafka sink produce rate on loopback")
    parser.add_argument("--batch", type=int, nargs="+", default=[1_000, 50_000])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per batch size and run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser.parse_args()


def trades(n: int, first: int) -> list[tuple[object, ...]]:
    return [
        (INSTRUMENTS[i % 6], first + i, 1_764_000_000_000 + i, f"{100 + i % 97}.25",
         "0.0153", "buy" if i % 2 else "sell", 1, 0, first + i, 1_764_000_000_000_000 + i)
        for i in range(n)
    ]  # fmt: skip


class TimedProducer(Producer):  # type: ignore[misc]
    """The real client, recording each message's acknowledgement latency."""

    latencies: list[float]

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        record = self.latencies.append

        def delivered(err: Any, msg: Any) -> None:
            record(msg.latency())
            on_delivery(err, msg)

        super().produce(topic, value=value, key=key, on_delivery=delivered)


def settings(broker: KafkaBroker, topic_prefix: str) -> dict[str, Any]:
    return {"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix,
            "flush_timeout_s": 60, "config": broker.client_config("ingest")}  # fmt: skip


def make_sink(broker: KafkaBroker, timed: bool) -> tuple[KafkaSink, list[float]]:
    """The sink; `timed`: its producer records each message's ack latency (slower)."""
    latencies: list[float] = []

    def factory(conf: dict[str, object]) -> Producer:
        if not timed:
            return Producer(conf)
        producer = TimedProducer(conf)
        producer.latencies = latencies
        return producer

    sink = KafkaSink(settings(broker, "okx.bench-sink."), producer_factory=factory)
    return sink, latencies


def make_raw(broker: KafkaBroker) -> tuple[Callable[[list[tuple[object, ...]]], None], list[float]]:
    producer = Producer(kafka_producer_config(settings(broker, "")))
    latencies: list[float] = []
    spec = TABLES["raw_ticks"]

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            raise RuntimeError(err)
        latencies.append(msg.latency())

    def write(rows: list[tuple[object, ...]]) -> None:
        encoded = [(str(r[0]).encode(), orjson.dumps(row_to_json(spec, r))) for r in rows]
        t0 = time.perf_counter()
        for key, value in encoded:
            try:
                producer.produce("okx.bench-raw.trades", value=value, key=key,
                                 on_delivery=delivered)  # fmt: skip
            except BufferError:
                producer.flush(60)
                producer.produce("okx.bench-raw.trades", value=value, key=key,
                                 on_delivery=delivered)  # fmt: skip
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError("raw producer: messages not acknowledged")
        write.elapsed = time.perf_counter() - t0  # type: ignore[attr-defined]

    return write, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(rows: int, batch_s: list[float], acks: list[float]) -> dict[str, Any]:
    return {
        "msgs_per_s": round(rows / sum(batch_s)),
        "batch_ms_p50": round(statistics.median(batch_s) * 1e3, 2),
        "batch_ms_p99": round(pct(batch_s, 0.99) * 1e3, 2),
        "ack_ms_p50": round(pct(acks, 0.50) * 1e3, 2),
        "ack_ms_p99": round(pct(acks, 0.99) * 1e3, 2),
    }


def run_size(broker: KafkaBroker, size: int, total: int) -> dict[str, Any]:
    sink, _ = make_sink(broker, timed=False)
    timed, sink_acks = make_sink(broker, timed=True)
    raw, raw_acks = make_raw(broker)
    sink_s: list[float] = []
    raw_s: list[float] = []
    encode_s: list[float] = []
    warm = trades(min(size, 1000), 0)
    for s in (sink, timed):  # connected, producer id assigned
        s.write(Batch(TABLE, warm, batch_token(TABLE, warm), 0))
    raw(warm)
    sink_acks.clear()
    raw_acks.clear()
    for first in range(0, total, size):
        rows = trades(size, first)
        batch = Batch(TABLE, rows, batch_token(TABLE, rows), 0)
        t0 = time.perf_counter()
        sink.write(batch)
        sink_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        kafka_messages("okx.bench-sink.", batch)
        encode_s.append(time.perf_counter() - t0)
        timed.write(batch)
        raw(rows)
        raw_s.append(raw.elapsed)  # type: ignore[attr-defined]
    sink.close()
    timed.close()
    rows_done = len(sink_s) * size
    out = {"batch": size, "batches": len(sink_s), "sink": summary(rows_done, sink_s, sink_acks),
           "raw": summary(rows_done, raw_s, raw_acks),
           "encode_ms_per_batch_p50": round(statistics.median(encode_s) * 1e3, 2)}  # fmt: skip
    out["ratio_sink_to_raw"] = round(out["sink"]["msgs_per_s"] / out["raw"]["msgs_per_s"], 2)
    return out


def show(result: dict[str, Any]) -> None:
    print(f"\n== batch {result['batch']} rows x {result['batches']}")
    for name in ("sink", "raw"):
        r = result[name]
        print(
            f"{name:>5}: {r['msgs_per_s']:>9,} msg/s  batch p50 {r['batch_ms_p50']} ms "
            f"p99 {r['batch_ms_p99']} ms  ack p50 {r['ack_ms_p50']} ms p99 {r['ack_ms_p99']} ms"
        )
    print(f"ratio sink/raw: {result['ratio_sink_to_raw']}x; of a sink batch, rows -> JSON "
          f"(kafka_messages) takes {result['encode_ms_per_batch_p50']} ms (p50)")  # fmt: skip


def main() -> int:
    args = parse_args()
    t0 = time.monotonic()
    with running_broker() as broker:
        ready = time.monotonic() - t0
        broker.create_topics(["okx.bench-sink.trades", "okx.bench-raw.trades"])
        results: dict[str, Any] = {
            "broker_start_s": round(broker.start_seconds, 2),
            "broker_ready_s": round(ready, 2),
            "sizes": [run_size(broker, size, args.rows) for size in args.batch],
        }
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"# Python {sys.version.split()[0]}, loopback, 1 broker (KRaft combined, SCRAM)")
    print(f"broker: JVM start to first answer {results['broker_start_s']} s, "
          f"with extract + format {results['broker_ready_s']} s")  # fmt: skip
    for result in results["sizes"]:
        show(result)
    print("\n" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
