from __future__ import annotations

import pytest
from okx_ingestor.books import (
    BookRegistry,
    BookState,
    L2Book,
    Outcome,
    SnapshotResult,
    okx_checksum,
)
from okx_ingestor.decoder import BookData, BookMsg, decode

Levels = list[tuple[str, str]] | tuple[()]


def bd(
    seq: int | None, prev: int | None, bids: Levels = (), asks: Levels = (), checksum: int = 0
) -> BookData:
    return BookData(
        asks=[[p, s, "0", "1"] for p, s in asks],
        bids=[[p, s, "0", "1"] for p, s in bids],
        ts=1_700_000_000_000,
        checksum=checksum,
        seq_id=seq,
        prev_seq_id=prev,
    )


def live_book() -> L2Book:
    book = L2Book("BTC-USDT")
    snap = bd(10, -1, bids=[("100", "1"), ("99", "2")], asks=[("101", "1"), ("102", "3")])
    assert book.apply(snap, "snapshot") is Outcome.SNAPSHOT
    return book


def test_documented_chain_with_heartbeat_and_reset() -> None:
    # OKX docs' example chain: -1->10, 10->15, 15->15 (heartbeat), 15->3 (reset), 3->5.
    book = live_book()
    assert book.apply(bd(15, 10, bids=[("100", "5")]), "update") is Outcome.APPLIED
    assert book.apply(bd(15, 15), "update") is Outcome.HEARTBEAT
    assert book.apply(bd(3, 15, asks=[("101", "0")]), "update") is Outcome.RESET
    assert book.apply(bd(5, 3, asks=[("101.5", "2")]), "update") is Outcome.APPLIED
    c = book.counters
    assert (c.snapshots, c.updates, c.heartbeats, c.resets, c.gaps) == (1, 3, 1, 1, 0)
    assert book.best_bid() == ("100", "5") and book.best_ask() == ("101.5", "2")
    assert book.last_seq_id == 5 and book.state is BookState.LIVE


def test_gap_drops_book_and_buffers_until_snapshot() -> None:
    book = live_book()
    assert book.apply(bd(20, 17, bids=[("100", "9")]), "update") is Outcome.GAP
    assert book.state is BookState.BUFFERING and book.depth() == (0, 0)
    assert book.counters.gaps == 1 and book.counters.resyncs == 1
    assert book.apply(bd(21, 20), "update") is Outcome.BUFFERED
    # A new WS snapshot (e.g. after resubscribing) brings it back.
    assert book.apply(bd(30, -1, bids=[("100", "1")], asks=[("101", "1")]), "snapshot") is (
        Outcome.SNAPSHOT
    )
    assert book.state is BookState.LIVE and book.buffered == 0


def test_size_zero_deletes_level_and_sides_sort_best_first() -> None:
    book = live_book()
    book.apply(bd(11, 10, bids=[("100", "0"), ("99.5", "4")], asks=[("100.5", "1")]), "update")
    bids, asks = book.top(5)
    assert bids == [("99.5", "4"), ("99", "2")]
    assert asks == [("100.5", "1"), ("101", "1"), ("102", "3")]


def test_messages_without_seq_ids_skip_continuity() -> None:
    book = L2Book("X")
    book.apply(bd(None, None, bids=[("1", "1")], asks=[("2", "1")]), "snapshot")
    assert book.apply(bd(None, None, bids=[("1", "2")]), "update") is Outcome.APPLIED


def test_checksum_verified_when_nonzero_and_ignored_when_zero() -> None:
    book = live_book()
    good = okx_checksum([("100", "1"), ("99", "2")], [("101", "1"), ("102", "3")])
    assert good == book.checksum()
    # "100:1:101:1:99:2:102:3"
    assert book.apply(bd(11, 10, checksum=0), "update") is Outcome.APPLIED
    assert book.counters.checksum_skipped == 2
    bad = bd(12, 11, bids=[("100", "2")], checksum=good)  # book changed, checksum stale
    assert book.apply(bad, "update") is Outcome.CHECKSUM_FAILED
    assert book.counters.checksum_failures == 1 and book.state is BookState.BUFFERING


def test_checksum_uses_top_25_and_skips_missing_levels() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(2000 + i), "2") for i in range(3)]
    expected_parts = []
    for i in range(25):
        expected_parts += [bids[i][0], bids[i][1]]
        if i < 3:
            expected_parts += [asks[i][0], asks[i][1]]
    import zlib

    crc = zlib.crc32(":".join(expected_parts).encode())
    signed = crc - (1 << 32) if crc >= 1 << 31 else crc
    assert okx_checksum(bids[:25], asks) == signed


def test_2022_recording_checksums_verify(recording_2022: list[str]) -> None:
    reg = BookRegistry()
    outcomes: dict[Outcome, int] = {}
    for raw in recording_2022:
        msg = decode(raw)
        if isinstance(msg, BookMsg):
            book = reg.get(msg.channel, msg.inst_id)
            for d in msg.items:
                o = book.apply(d, msg.action)
                outcomes[o] = outcomes.get(o, 0) + 1
    assert outcomes == {Outcome.SNAPSHOT: 3, Outcome.APPLIED: 287}
    totals = reg.totals()
    assert totals.checksum_ok == 290 and totals.checksum_failures == 0


def test_2022_recording_tampered_size_fails_checksum(recording_2022: list[str]) -> None:
    book = L2Book("BTC-USD-220527")
    for raw in recording_2022:
        msg = decode(raw)
        if isinstance(msg, BookMsg) and msg.inst_id == "BTC-USD-220527":
            d = msg.items[0]
            if msg.action == "update" and d.bids:
                d.bids[0][1] = d.bids[0][1] + "1"
                assert book.apply(d, "update") is Outcome.CHECKSUM_FAILED
                return
            assert book.apply(d, msg.action) in (Outcome.SNAPSHOT, Outcome.APPLIED)
    pytest.fail("no update with bids in the recording")


class TestRestSnapshotProcedure:
    """OKX: buffer WS updates, fetch /market/books, drop seqId <= snapshot, apply rest."""

    def buffering_book(self) -> L2Book:
        book = L2Book("BTC-USDT")
        for seq in range(101, 106):  # updates 100->101 ... 104->105
            assert book.apply(bd(seq, seq - 1, bids=[("100", str(seq))]), "update") is (
                Outcome.BUFFERED
            )
        return book

    def test_snapshot_older_than_buffer_is_refetched(self) -> None:
        book = self.buffering_book()
        assert book.first_buffered_prev_seq_id() == 100
        assert book.feed_snapshot(bd(99, None, bids=[("100", "1")])) is SnapshotResult.REFETCH
        assert book.state is BookState.BUFFERING and book.buffered == 5

    def test_drops_covered_updates_and_applies_the_rest(self) -> None:
        book = self.buffering_book()
        snap = bd(102, None, bids=[("100", "102"), ("98", "1")], asks=[("101", "1")])
        assert book.feed_snapshot(snap) is SnapshotResult.LIVE
        assert book.state is BookState.LIVE and book.last_seq_id == 105
        assert book.best_bid() == ("100", "105")
        assert book.counters.updates == 3  # 103, 104, 105 applied; 101, 102 dropped
        assert book.apply(bd(106, 105), "update") is Outcome.APPLIED

    def test_snapshot_newer_than_buffer_then_live(self) -> None:
        book = self.buffering_book()
        assert book.feed_snapshot(bd(110, None, bids=[("100", "1")])) is SnapshotResult.LIVE
        assert book.apply(bd(111, 110), "update") is Outcome.APPLIED

    def test_buffer_with_internal_gap_is_refetched(self) -> None:
        book = L2Book("X")
        book.apply(bd(101, 100), "update")
        book.apply(bd(108, 107), "update")  # gap 101 -> 107
        assert book.feed_snapshot(bd(100, None)) is SnapshotResult.REFETCH

    def test_buffer_is_bounded(self) -> None:
        book = L2Book("X", buffer_limit=3)
        for seq in range(1, 11):
            book.apply(bd(seq, seq - 1), "update")
        assert book.buffered == 3 and book.counters.buffered_dropped == 7
        assert book.first_buffered_prev_seq_id() == 7

    def test_snapshot_without_seq_id_is_rejected(self) -> None:
        book = self.buffering_book()
        with pytest.raises(ValueError, match="seqId"):
            book.feed_snapshot(bd(None, None))


def test_bad_level_drops_book() -> None:
    book = live_book()
    assert book.apply(bd(11, 10, bids=[("Infinity", "1")]), "update") is Outcome.BAD_LEVEL
    assert book.state is BookState.BUFFERING and book.counters.bad_levels == 1


def test_prices_that_collide_as_floats_drop_the_book_instead_of_merging() -> None:
    book = live_book()
    assert float("0.1000000000000000055511151231257827") == float("0.1")
    assert book.apply(bd(11, 10, asks=[("0.1", "1")]), "update") is Outcome.APPLIED
    collide = bd(12, 11, asks=[("0.1000000000000000055511151231257827", "2")])
    assert book.apply(collide, "update") is Outcome.BAD_LEVEL
    assert book.state is BookState.BUFFERING


def test_same_price_written_differently_is_one_level() -> None:
    book = live_book()
    book.apply(bd(11, 10, asks=[("101.0", "7")]), "update")  # "101" already on the book
    assert book.top(5)[1][0] == ("101.0", "7") and book.depth() == (2, 2)


def test_missed_reset_is_a_gap_not_a_run_of_duplicates() -> None:
    # The chain reached 1000; OKX reset the sequence and the reset push itself was lost.
    # The old duplicate rule (prev < last and prev <= seq <= last) took the new chain's
    # pushes for duplicates and froze the book; they must resync it instead.
    book = live_book()
    assert book.apply(bd(1000, 10, bids=[("100", "5")]), "update") is Outcome.APPLIED
    outcomes = [book.apply(bd(3 + 2 * i + 2, 3 + 2 * i, bids=[("100", str(i + 1))]), "update")
                for i in range(21)]  # fmt: skip
    assert outcomes[0] is Outcome.GAP
    assert set(outcomes[1:]) == {Outcome.BUFFERED}
    c = book.counters
    assert (c.duplicates, c.gaps, c.resyncs) == (0, 1, 1)
    assert book.state is BookState.BUFFERING


def test_duplicates_inside_the_chain_are_still_ignored() -> None:
    book = live_book()  # chain from the snapshot at 10
    assert book.apply(bd(15, 10, bids=[("100", "5")]), "update") is Outcome.APPLIED
    assert book.apply(bd(20, 15, bids=[("100", "6")]), "update") is Outcome.APPLIED
    # The same pushes from the other socket of a 64008 hand-over.
    assert book.apply(bd(15, 10, bids=[("100", "5")]), "update") is Outcome.DUPLICATE
    assert book.apply(bd(20, 15, bids=[("100", "6")]), "update") is Outcome.DUPLICATE
    # The new socket's snapshot moves the book forward on the same chain; the old
    # socket's push it already covers is a duplicate, not a gap.
    snap = bd(30, -1, bids=[("100", "7")], asks=[("101", "1")])
    assert book.apply(snap, "snapshot") is Outcome.SNAPSHOT
    assert book.apply(bd(25, 20, bids=[("100", "8")]), "update") is Outcome.DUPLICATE
    assert book.apply(bd(31, 30, bids=[("100", "9")]), "update") is Outcome.APPLIED
    assert book.counters.duplicates == 3 and book.counters.gaps == 0
    assert book.best_bid() == ("100", "9")


def test_after_a_seen_reset_the_old_chain_is_a_gap() -> None:
    book = live_book()
    assert book.apply(bd(15, 10), "update") is Outcome.APPLIED
    assert book.apply(bd(3, 15, asks=[("101", "2")]), "update") is Outcome.RESET
    assert book.chain_floor == 3
    assert book.apply(bd(5, 3), "update") is Outcome.APPLIED
    # A push of the old chain replayed late (prev 10 above the new chain's seqIds).
    assert book.apply(bd(15, 10), "update") is Outcome.GAP
