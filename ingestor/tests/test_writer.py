"""The writer thread keeps batches in the order they were made, including when its queue
overflows to disk while the thread is busy or stuck in a sink, and the event loop's
offer() never waits for a sink."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from okx_ingestor.batcher import Batch
from okx_ingestor.service import Writer
from okx_ingestor.sinks import Delivery, SinkUnavailable
from okx_ingestor.spool import Spool, _frame
from prometheus_client import CollectorRegistry, Histogram


class DownSink:
    """Unreachable, and slow to say so: the writer is often busy when offer() runs."""

    name = "down"

    def write(self, batch: Batch) -> None:
        time.sleep(0.0005)
        raise SinkUnavailable("down for the test")

    def close(self) -> None:
        pass


class HangingSink:
    """Takes batches; while `hang` is set, a write blocks until `release` is set (a
    server that accepted the connection and stopped answering)."""

    name = "hanging"

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.seen: list[int] = []

    def write(self, batch: Batch) -> None:
        if self.hang.is_set():
            self.hanging.set()
            self.release.wait(30)
        self.seen.append(batch.created_us)

    def close(self) -> None:
        pass


def make_writer(tmp_path: Path, sink: object, max_queue: int) -> tuple[Writer, Delivery]:
    delivery = Delivery(sink, Spool(tmp_path / "spool", fsync=False))  # type: ignore[arg-type]
    delivery.retry_s = delivery.max_retry_s = 0.0  # retry the sink on every batch
    hist = Histogram("insert", "insert", ["sink"], registry=CollectorRegistry())
    writer = Writer([delivery], max_queue=max_queue, insert_hist=hist,
                    overflow_dir=tmp_path / "overflow", fsync=False)  # fmt: skip
    return writer, delivery


def batch(i: int) -> Batch:
    return Batch("hft_data.raw_ticks", [(i,)], "", i)


def spooled_order(delivery: Delivery) -> list[int]:
    assert delivery.spool is not None
    return [b.created_us for b in delivery.spool.peek()]


def overflow_order(writer: Writer) -> list[int]:
    return [b.created_us for b in writer.overflow.peek()] if writer.overflow else []


def wait_until_taken(writer: Writer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while writer.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.pending() == 0


def test_overflow_moves_the_queue_to_disk_ahead_of_the_new_batch(tmp_path: Path) -> None:
    writer, delivery = make_writer(tmp_path, DownSink(), max_queue=3)  # not started
    for i in range(5):
        writer.offer(batch(i))
    # The 4th batch overflows: 0-2 leave the queue for the spool first, then 3; the 5th
    # goes behind them, not into the now empty queue.
    assert writer.overflow_batches == 2
    assert list(writer.queue) == []
    assert overflow_order(writer) == [0, 1, 2, 3, 4]
    writer.start()
    wait_until_taken(writer)
    assert writer.stop(10)
    assert spooled_order(delivery) == [0, 1, 2, 3, 4]


def test_batches_reach_the_sink_spool_in_order_under_overflow(tmp_path: Path) -> None:
    writer, delivery = make_writer(tmp_path, DownSink(), max_queue=2)
    writer.start()
    done = threading.Event()

    def produce() -> None:
        for i in range(2000):
            writer.offer(batch(i))
            if i % 50 == 0:
                time.sleep(0.001)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(60)
    assert done.is_set()
    wait_until_taken(writer)
    assert writer.stop(30)
    assert writer.overflow_batches > 0  # the case under test happened
    assert spooled_order(delivery) == list(range(2000))


def test_offer_does_not_wait_for_a_hanging_sink(tmp_path: Path) -> None:
    sink = HangingSink()
    writer, _ = make_writer(tmp_path, sink, max_queue=2)
    writer.start()
    sink.hang.set()
    writer.offer(batch(0))
    assert sink.hanging.wait(10)  # the thread is stuck in the sink with batch 0
    offered = threading.Event()

    def produce() -> None:  # the event loop's side: 200 batches while the sink hangs
        for i in range(1, 201):
            writer.offer(batch(i))
        offered.set()

    threading.Thread(target=produce, daemon=True).start()
    # Before the fix, the first overflow waited for the sink write in progress.
    assert offered.wait(10), "offer() waited for the hanging sink"
    assert not sink.release.is_set() and sink.seen == []
    assert writer.overflow_batches > 0 and len(writer.queue) == 0
    sink.hang.clear()
    sink.release.set()
    wait_until_taken(writer)
    assert writer.stop(10)
    assert sink.seen == list(range(201))  # every batch, once, in order


def test_stop_with_a_hanging_sink_keeps_the_queue_on_disk(tmp_path: Path) -> None:
    sink = HangingSink()
    writer, _ = make_writer(tmp_path, sink, max_queue=4)
    writer.start()
    sink.hang.set()
    for i in range(4):
        writer.offer(batch(i))
    assert sink.hanging.wait(10)
    assert not writer.stop(0.2)  # stuck in the sink with batch 0
    assert overflow_order(writer) == [1, 2, 3]
    sink.release.set()
    writer.join(10)
    # The next start delivers the overflow spool first, new batches behind it.
    sink2 = HangingSink()
    writer2, _ = make_writer(tmp_path, sink2, max_queue=4)
    writer2.offer(batch(4))
    writer2.start()
    wait_until_taken(writer2)
    assert writer2.stop(10)
    assert sink.seen == [0] and sink2.seen == [1, 2, 3, 4]


def test_a_record_that_is_not_a_batch_is_set_aside(tmp_path: Path) -> None:
    """A CRC-valid record that does not decode (another version wrote it, say) must not
    block the overflow spool: it is kept beside it, counted, and the rest delivered."""
    overflow = Spool(tmp_path / "overflow", fsync=False)
    overflow.append(batch(0))
    seg = next((tmp_path / "overflow").glob("*.seg"))
    with seg.open("ab") as fh:  # a valid frame whose payload is not a batch
        fh.write(_frame(b'{"not": "a batch"}'))
    sink = HangingSink()
    writer, _ = make_writer(tmp_path, sink, max_queue=4)
    writer.offer(batch(1))  # behind the two records already on disk
    writer.start()
    wait_until_taken(writer)
    assert writer.stop(10)
    assert sink.seen == [0, 1] and writer.undecodable_batches == 1
    (kept,) = (tmp_path / "overflow").glob("undecodable-*.record")
    assert kept.read_bytes() == b'{"not": "a batch"}'


class RowsSink:
    """Records the rows of every batch it takes."""

    name = "rows"

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def write(self, batch: Batch) -> None:
        self.rows.extend(batch.rows)

    def close(self) -> None:
        pass


def test_a_row_beyond_64_bits_is_quarantined_and_the_writer_goes_on(tmp_path: Path) -> None:
    """An int above 2**64 made ensure_token() raise TypeError outside any try: the thread
    died, no sink got data again, and a full queue then made offer() raise on the loop."""
    sink = RowsSink()
    writer, _ = make_writer(tmp_path, sink, max_queue=8)
    writer.start()
    writer.offer(Batch("hft_data.raw_ticks", [(1,), (2**70,), (3,)], "", 1))
    writer.offer(batch(4))
    deadline = time.monotonic() + 10
    while len(sink.rows) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.rows == [(1,), (3,), (4,)]
    assert writer.is_alive() and not writer.supervisor.failed
    assert writer.supervisor.quarantine.counts == {"unencodable_row": 1}
    assert writer.stop(5)


def test_an_unencodable_row_offered_while_behind_does_not_raise_on_the_loop(
    tmp_path: Path,
) -> None:
    sink = HangingSink()
    sink.hang.set()
    writer, _ = make_writer(tmp_path, sink, max_queue=1)
    writer.start()
    writer.offer(batch(1))
    assert sink.hanging.wait(10)
    writer.offer(batch(2))  # queued
    writer.offer(Batch("hft_data.raw_ticks", [(3,), (2**65,)], "", 3))  # to the overflow spool
    assert overflow_order(writer) == [2, 3]
    assert writer.supervisor.quarantine.counts == {"unencodable_row": 1}
    sink.hang.clear()
    sink.release.set()
    wait_until_taken(writer)
    assert writer.stop(5)
    assert sink.seen == [1, 2, 3]


def test_a_writer_thread_that_dies_keeps_its_queue_on_disk_and_stop_says_so(
    tmp_path: Path,
) -> None:
    sink = HangingSink()
    sink.hang.set()
    writer, _ = make_writer(tmp_path, sink, max_queue=8)
    writer.start()
    writer.offer(batch(1))
    assert sink.hanging.wait(10)
    writer.offer(batch(2))
    writer.offer(batch(3))

    def broken() -> None:
        raise RuntimeError("a bug in the writer loop")

    writer._next = broken  # type: ignore[method-assign]
    sink.release.set()
    writer.join(10)
    assert not writer.is_alive() and "writer" in writer.supervisor.failed
    assert writer.stop(1) is False  # the service then exits non-zero
    assert overflow_order(writer) == [2, 3]  # not lost: the next start delivers them
