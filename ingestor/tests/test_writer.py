"""The writer thread keeps batches in the order they were made, also when its queue
overflows to the spool while the thread is busy (found by the 30 s outage test: a batch
that overflowed straight to the spool overtook older ones still queued)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from okx_ingestor.batcher import Batch
from okx_ingestor.service import Writer
from okx_ingestor.sinks import Delivery, SinkUnavailable
from okx_ingestor.spool import Spool
from prometheus_client import CollectorRegistry, Histogram


class DownSink:
    """Unreachable, and slow to say so: the writer is often busy when offer() runs."""

    name = "down"

    def write(self, batch: Batch) -> None:
        time.sleep(0.0005)
        raise SinkUnavailable("down for the test")

    def close(self) -> None:
        pass


def writer_for(tmp_path: Path, max_queue: int) -> tuple[Writer, Delivery]:
    delivery = Delivery(DownSink(), Spool(tmp_path / "spool", fsync=False))
    delivery.retry_s = delivery.max_retry_s = 0.0  # retry the sink on every batch
    hist = Histogram("insert", "insert", ["sink"], registry=CollectorRegistry())
    return Writer([delivery], max_queue=max_queue, insert_hist=hist), delivery


def spooled_order(delivery: Delivery) -> list[int]:
    assert delivery.spool is not None
    return [batch.created_us for batch in delivery.spool.peek()]


def test_overflow_spools_the_queued_batches_first(tmp_path: Path) -> None:
    writer, delivery = writer_for(tmp_path, max_queue=3)  # not started: nothing is taken
    for i in range(5):
        writer.offer(Batch("hft_data.raw_ticks", [(i,)], "", i))
    # The 4th batch overflows: 0-2 leave the queue for the spool first, then 3; the
    # 5th finds the queue empty again.
    assert writer.overflow_batches == 1
    assert spooled_order(delivery) == [0, 1, 2, 3]
    assert writer.queue.qsize() == 1


def test_batches_reach_the_spool_in_order_under_overflow(tmp_path: Path) -> None:
    writer, delivery = writer_for(tmp_path, max_queue=2)
    writer.start()
    done = threading.Event()

    def produce() -> None:
        for i in range(2000):
            writer.offer(Batch("hft_data.raw_ticks", [(i,)], "", i))
            if i % 50 == 0:
                time.sleep(0.001)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(60)
    assert done.is_set()
    assert writer.stop(30)
    assert writer.overflow_batches > 0  # the case under test happened
    assert spooled_order(delivery) == list(range(2000))
