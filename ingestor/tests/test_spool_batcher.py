from __future__ import annotations

from pathlib import Path

import pytest
from okx_ingestor.batcher import Batch, Batcher, batch_token
from okx_ingestor.sinks import Delivery, SinkUnavailable
from okx_ingestor.spool import Spool


def mk_batch(n: int, table: str = "hft_data.raw_ticks", start: int = 0) -> Batch:
    rows = [
        ("BTC-USDT", str(start + i), 1_700_000_000_000 + i, "1.5", "2", "buy", 1) for i in range(n)
    ]
    return Batch(table, rows, batch_token(table, rows), 1)


def test_batcher_flushes_by_rows_and_by_interval() -> None:
    out: list[Batch] = []
    now = [0]
    b = Batcher(out.append, max_rows=3, max_interval_s=1.0, clock_us=lambda: now[0])
    for i in range(7):
        b.add("db.t", (i,))
    assert [len(x.rows) for x in out] == [3, 3] and b.pending_rows() == 1
    now[0] = 999_999
    assert b.poll() == 0
    now[0] = 1_000_000
    assert b.poll() == 1 and out[-1].rows == [(6,)]
    assert b.rows_in["db.t"] == 7


def test_dedup_token_is_deterministic() -> None:
    a, b = mk_batch(5), mk_batch(5)
    assert a.token == b.token
    assert mk_batch(5, start=1).token != a.token
    assert batch_token("db.other", a.rows) != a.token
    assert Batch.decode(a.encode()) == a


def test_spool_roundtrip_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=2000, fsync=True)
    batches = [mk_batch(5, start=10 * i) for i in range(20)]
    for batch in batches:
        assert spool.append(batch)
    assert len(list(tmp_path.glob("*.seg"))) > 1 and len(spool) == 20
    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=2000)
    got = []
    for batch in reopened.peek():
        got.append(batch)
        reopened.ack()
    assert got == batches and reopened.empty() and not list(tmp_path.glob("*.seg"))


def test_truncated_tail_is_ignored_and_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(3):
        spool.append(mk_batch(4, start=i * 4))
    (seg,) = tmp_path.glob("*.seg")
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # a crash in the middle of the last write
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.stats.corrupt_tails == 1 and len(reopened) == 2
    assert [b.rows[0][1] for b in reopened.peek()] == ["0", "4"]
    reopened.append(mk_batch(1, start=99))  # appends after the cut, still readable
    assert [b.rows[0][1] for b in Spool(tmp_path).peek()] == ["0", "4", "99"]


def test_corrupt_payload_stops_at_bad_crc(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(mk_batch(2))
    spool.append(mk_batch(2, start=2))
    (seg,) = tmp_path.glob("*.seg")
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert len(Spool(tmp_path)) == 1


def test_bound_is_honoured_and_shedding_counted(tmp_path: Path) -> None:
    size = len(mk_batch(10).encode()) + 10
    spool = Spool(tmp_path, max_bytes=size * 10, segment_bytes=size * 2, fsync=False)
    for i in range(40):
        spool.append(mk_batch(10, start=i * 10))
        assert spool.bytes <= spool.max_bytes
    s = spool.stats
    assert s.shed_segments > 0 and s.shed_rows == s.shed_batches * 10
    assert len(spool) + s.shed_batches == 40
    # the newest data survives: oldest segments were shed
    assert list(spool.peek())[-1].rows[0][1] == "390"


def test_low_priority_tables_shed_first_above_high_watermark(tmp_path: Path) -> None:
    size = len(mk_batch(10).encode()) + 10
    spool = Spool(tmp_path, max_bytes=size * 20, segment_bytes=size * 2, fsync=False)
    for i in range(18):
        assert spool.append(mk_batch(10, start=i * 10))
    assert spool.bytes > 0.9 * spool.max_bytes
    assert not spool.append(mk_batch(10, table="hft_data.book_l2"))
    assert spool.append(mk_batch(10))  # trades still spooled
    assert spool.stats.shed_batches == 1 and spool.stats.shed_segments == 0


def test_too_large_batch_rejected(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=500, segment_bytes=500)
    assert not spool.append(mk_batch(50))
    assert spool.stats.rejected_too_large == 1


class FlakySink:
    name = "flaky"

    def __init__(self) -> None:
        self.up = True
        self.rows: list[tuple[object, ...]] = []
        self.tokens: list[str] = []

    def write(self, batch: Batch) -> None:
        if not self.up:
            raise SinkUnavailable("down for the test")
        self.rows.extend(batch.rows)
        self.tokens.append(batch.token)

    def close(self) -> None:
        pass


def test_delivery_spools_during_outage_and_replays_in_order(tmp_path: Path) -> None:
    sink = FlakySink()
    d = Delivery(sink, Spool(tmp_path))
    sent = [mk_batch(3, start=3 * i) for i in range(10)]
    for i, batch in enumerate(sent):
        sink.up = i not in range(2, 7)
        d.submit(batch)  # batches 7.. go behind the spooled ones, even with the sink up
    assert d.spool is not None and len(d.spool) == 8
    assert d.drain(limit=100) == 0  # down: not retried before its backoff expires
    d.retry_at = 0.0
    assert d.drain(limit=100) == 8
    assert sink.rows == [r for b in sent for r in b.rows]
    assert sink.tokens == [b.token for b in sent]


def test_delivery_without_spool_counts_drops() -> None:
    sink = FlakySink()
    sink.up = False
    d = Delivery(sink)
    d.submit(mk_batch(1))
    assert d.dropped_batches == 1


@pytest.mark.parametrize(("rows", "interval"), [(0, 1.0), (1, 0.0)])
def test_batcher_rejects_bad_settings(rows: int, interval: float) -> None:
    with pytest.raises(ValueError, match=r"max_rows|max_interval"):
        Batcher(lambda b: None, max_rows=rows, max_interval_s=interval)


def test_down_sink_is_not_called_again_before_retry_time(tmp_path: Path) -> None:
    sink = FlakySink()
    sink.up = False
    calls = []
    original = sink.write

    def counting(batch: Batch) -> None:
        calls.append(batch.token)
        original(batch)

    sink.write = counting  # type: ignore[method-assign]
    d = Delivery(sink, Spool(tmp_path))
    for i in range(5):
        d.submit(mk_batch(1, start=i))
    assert len(calls) == 1 and d.spool is not None and len(d.spool) == 5
    assert d.retry_s == 1.0  # doubled after the failure


def test_spool_reads_segments_frame_by_frame(tmp_path: Path) -> None:
    from okx_ingestor.spool import iter_records

    spool = Spool(tmp_path, fsync=False)
    for i in range(5):
        spool.append(mk_batch(2, start=i * 2))
    (seg,) = tmp_path.glob("*.seg")
    assert [Batch.decode(p).rows[0][1] for p in iter_records(seg, skip=3)] == ["6", "8"]


def test_head_and_ack_head_walk_the_spool_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=2000, fsync=False)
    for i in range(40):
        spool.append(mk_batch(2, start=i * 2))
    assert len(list(tmp_path.glob("*.seg"))) > 1  # across segments
    seen = []
    while (head := spool.head()) is not None:
        seg, index, payload = head
        seen.append(Batch.decode(payload).rows[0][1])
        spool.ack_head(seg, index)
    assert seen == [str(i * 2) for i in range(40)] and spool.empty()


def test_ack_head_never_acks_a_newer_batch_after_shedding(tmp_path: Path) -> None:
    """The record in flight is shed (its segment dropped) while a newer batch arrives;
    acking the old record must not ack the newer one (segment numbers are not reused)."""
    spool = Spool(tmp_path, max_bytes=4000, fsync=False)
    spool.append(Batch("hft_data.raw_ticks", [("a",) * 10] * 10, "", 1))
    seg, index, _ = spool.head()  # type: ignore[misc]  # in flight; the sink hangs
    newer = Batch("hft_data.raw_ticks", [("b" * 33,) * 10] * 10, "", 2)
    assert spool.append(newer)  # does not fit beside the first: its segment is shed
    assert spool.stats.shed_batches == 1
    spool.ack_head(seg, index)  # the sink returns
    assert [b.created_us for b in spool.peek()] == [2]
