"""A clean tick dataset in the files/sql schema, and the defects the data-quality checks
(files/sql/checks) must find, written with ClickHouse's own generators (numbers()), so
the tests (thousands of rows) and bench/quality_checks.py (10 million) build it the
same way. Timestamps are relative to AS_OF: the data ends one second before it."""

from __future__ import annotations

from typing import Any, Protocol

AS_OF = "2026-12-07 12:00:00.000"
INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
SWAP = "BTC-USDT-SWAP"


class Executor(Protocol):
    def execute(self, sql: str) -> None: ...
    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


def _t(offset_ms: str) -> str:
    """An exchange timestamp `offset_ms` (an SQL expression) before AS_OF."""
    return f"toDateTime64('{AS_OF}', 3, 'UTC') - toIntervalMillisecond({offset_ms})"


def trades(db: Executor, inst: str, first_id: int, n: int, step_ms: int, end_ms: int,
           *, received_delay_ms: int = 5) -> None:  # fmt: skip
    """n consecutive trades of `inst` every `step_ms`, the last `end_ms` before AS_OF."""
    ts = _t(f"{end_ms} + ({n} - 1 - number) * {step_ms}")
    db.execute(
        "INSERT INTO hft_data.raw_ticks (inst_id, trade_id, ts, price, size, side, count, "
        f"seq_id, received_at) SELECT '{inst}', {first_id} + number, {ts}, "
        "toDecimal128(100 + (number % 97) / 10, 18), toDecimal128(1 + number % 7, 18), "
        f"if(number % 2 = 0, 'buy', 'sell'), 1, number, "
        f"toDateTime64({ts}, 6, 'UTC') + toIntervalMillisecond({received_delay_ms}) "
        f"FROM numbers({n})"
    )


def book(db: Executor, inst: str, n: int, step_ms: int, end_ms: int) -> None:
    """A snapshot then n - 1 chained updates of `books` for `inst`."""
    ts = _t(f"{end_ms} + ({n} - 1 - number) * {step_ms}")
    db.execute(
        "INSERT INTO hft_data.book_l2 (inst_id, channel, action, ts, seq_id, prev_seq_id, "
        "bid_prices, bid_sizes, bid_orders, ask_prices, ask_sizes, ask_orders, received_at) "
        f"SELECT '{inst}', 'books', if(number = 0, 'snapshot', 'update'), {ts}, "
        "1000 + number, if(number = 0, -1, 999 + number), [toDecimal128(99, 18)], "
        "[toDecimal128(1, 18)], [1], [toDecimal128(101, 18)], [toDecimal128(1, 18)], [1], "
        f"toDateTime64({ts}, 6, 'UTC') + toIntervalMillisecond(3) FROM numbers({n})"
    )


def book_rows(db: Executor, inst: str, rows: list[tuple[str, int, int]], end_ms: int) -> None:
    """Explicit (action, prev_seq_id, seq_id) messages, 100 ms apart, ending end_ms before."""
    values = []
    for i, (action, prev, seq) in enumerate(rows):
        ts = _t(str(end_ms + (len(rows) - 1 - i) * 100))
        values.append(f"SELECT '{inst}' AS i, '{action}' AS a, {ts} AS t, {seq} AS s, {prev} AS p")
    db.execute(
        "INSERT INTO hft_data.book_l2 (inst_id, channel, action, ts, seq_id, prev_seq_id, "
        "bid_prices, bid_sizes, bid_orders, ask_prices, ask_sizes, ask_orders, received_at) "
        "SELECT i, 'books', a, t, s, p, [], [], [], [], [], [], "
        "toDateTime64(t, 6, 'UTC') + toIntervalMillisecond(3) FROM ("
        + " UNION ALL ".join(values)
        + ")"
    )


def series(db: Executor, table: str, columns: str, values: str, n: int, step_ms: int,
           end_ms: int, *, received_delay_ms: int = 3) -> None:  # fmt: skip
    """n rows of `table`, one every `step_ms`, the last `end_ms` before AS_OF: `values`
    are the SQL expressions of `columns` ({ts} is the row's exchange time), followed by
    ts and received_at (ts + received_delay_ms)."""
    ts = _t(f"{end_ms} + ({n} - 1 - number) * {step_ms}")
    db.execute(
        f"INSERT INTO hft_data.{table} ({columns}, ts, received_at) "
        f"SELECT {values.format(ts=ts)}, {ts}, "
        f"toDateTime64({ts}, 6, 'UTC') + toIntervalMillisecond({received_delay_ms}) "
        f"FROM numbers({n})"
    )


PX = "toDecimal128(100, 18)"


def tickers(db: Executor, inst: str, n: int, step_ms: int, end_ms: int,
            *, received_delay_ms: int = 4) -> None:  # fmt: skip
    series(db, "tickers", "inst_id, inst_type, last, last_sz",
           f"'{inst}', 'SPOT', {PX}, toDecimal128(1, 18)", n, step_ms, end_ms,
           received_delay_ms=received_delay_ms)  # fmt: skip


def bbo(db: Executor, inst: str, n: int, step_ms: int, end_ms: int) -> None:
    series(db, "bbo", "inst_id, channel, seq_id, bid_px, bid_sz, bid_orders, ask_px, ask_sz, "
           "ask_orders", f"'{inst}', 'bbo-tbt', number, toDecimal128(99, 18), "
           "toDecimal128(1, 18), 1, toDecimal128(101, 18), toDecimal128(1, 18), 1",
           n, step_ms, end_ms, received_delay_ms=2)  # fmt: skip


def index_tickers(db: Executor, inst: str, n: int, step_ms: int, end_ms: int) -> None:
    series(db, "index_tickers", "inst_id, idx_px", f"'{inst}', {PX}", n, step_ms, end_ms)


def mark_prices(db: Executor, inst: str, n: int, step_ms: int, end_ms: int) -> None:
    series(db, "mark_prices", "inst_id, inst_type, mark_px", f"'{inst}', 'SWAP', {PX}",
           n, step_ms, end_ms)  # fmt: skip


def funding_rates(db: Executor, inst: str, n: int, step_ms: int, end_ms: int) -> None:
    series(db, "funding_rates", "inst_id, inst_type, funding_rate, funding_time, "
           "next_funding_time, sett_state, method, formula_type",
           f"'{inst}', 'SWAP', toDecimal128('0.0001', 18), {{ts}}, {{ts}}, 'settled', "
           "'current_period', 'noRate'", n, step_ms, end_ms)  # fmt: skip


def clean(db: Executor, trades_per_instrument: int = 3000) -> None:
    """An hour of healthy data: trades every 100 ms (ending 1 s before AS_OF) for three
    spot instruments, their books (with a keep-alive, a resync and a sequence reset),
    bbo, tickers, an index and a swap's mark price and funding rate."""
    n = trades_per_instrument
    for k, inst in enumerate(INSTRUMENTS):
        trades(db, inst, first_id=1_000_000 * (k + 1), n=n, step_ms=100, end_ms=1000)
        book(db, inst, n=n, step_ms=100, end_ms=1600)  # BTC's 5 extra rows follow
        tickers(db, inst, n=600, step_ms=1000, end_ms=1000)
        bbo(db, inst, n=600, step_ms=1000, end_ms=1000)
    # What OKX really sends and must not count as a break, after the chained book above:
    # a keep-alive (seq = prev), a sequence reset after maintenance (seq < prev, prev =
    # last seq), normal updates, then a resync (a new snapshot) and updates again.
    last = 1000 + n - 1
    book_rows(db, "BTC-USDT", [
        ("update", last, last), ("update", last, 3), ("update", 3, 5),
        ("snapshot", -1, 40), ("update", 40, 41),
    ], end_ms=1000)  # fmt: skip
    index_tickers(db, "BTC-USDT", n=600, step_ms=1000, end_ms=1000)
    mark_prices(db, SWAP, n=600, step_ms=1000, end_ms=1000)
    funding_rates(db, SWAP, n=60, step_ms=60_000, end_ms=1000)


# Each defect touches an instrument or table of its own, so each check must report
# exactly its defect and nothing else.
def stale_trades(db: Executor) -> None:
    """STALE-USDT stopped trading 30 min before AS_OF (limit 900 s)."""
    trades(db, "STALE-USDT", first_id=7_000_000, n=100, step_ms=1000, end_ms=30 * 60_000)


def stale_mark_price(db: Executor) -> None:
    """The swap's mark price (limit 60 s) stops 2 minutes before AS_OF: its newest 120
    rows are removed."""
    db.execute(f"DELETE FROM hft_data.mark_prices WHERE inst_id = '{SWAP}' AND ts > {_t('120000')}")


def duplicate_trades(db: Executor) -> None:
    """5 ETH-USDT trades stored a second time (another block: not deduplicated)."""
    db.execute(
        "INSERT INTO hft_data.raw_ticks SELECT inst_id, trade_id, ts, price, size, side, "
        "count, source, seq_id, received_at + toIntervalMillisecond(7) "
        "FROM hft_data.raw_ticks WHERE inst_id = 'ETH-USDT' AND trade_id BETWEEN "
        "2000100 AND 2000104"
    )


def trade_gap(db: Executor) -> None:
    """GAP-USDT: ids 5,000,000..5,000,099 then 5,000,109..5,000,199 (9 missing)."""
    trades(db, "GAP-USDT", first_id=5_000_000, n=100, step_ms=100, end_ms=10_000 + 100 * 100)
    trades(db, "GAP-USDT", first_id=5_000_109, n=91, step_ms=100, end_ms=1000)


def book_break(db: Executor) -> None:
    """BRK-USDT: the fourth message's prevSeqId (12) is not the stored seqId before it
    (11): update 12 was lost and no resync followed."""
    book_rows(db, "BRK-USDT", [
        ("snapshot", -1, 10), ("update", 10, 11), ("update", 12, 13), ("update", 13, 14),
    ], end_ms=1000)  # fmt: skip


def candles_without_views(db: Executor) -> None:
    """NOMV-USDT trades inserted while the OHLCV views were detached: raw ticks for two
    minutes that have no candles."""
    db.execute("DETACH TABLE hft_analytics.mv_agg_1s")
    try:
        trades(db, "NOMV-USDT", first_id=6_000_000, n=120, step_ms=1000,
               end_ms=_minute_aligned_end())  # fmt: skip
    finally:
        db.execute("ATTACH TABLE hft_analytics.mv_agg_1s")


def _minute_aligned_end() -> int:
    """Milliseconds before AS_OF for the last of 120 trades 1 s apart, so they fill the
    two whole minutes [AS_OF - 10 min, AS_OF - 8 min)."""
    return 8 * 60_000 + 1000


def late_and_future(db: Executor) -> None:
    """LATE-USDT: 2 tickers received 60 s after their exchange time; 1 bbo from 10 s in
    the future (a clock off)."""
    tickers(db, "LATE-USDT", n=2, step_ms=1000, end_ms=2000, received_delay_ms=60_000)
    db.execute(
        "INSERT INTO hft_data.bbo (inst_id, channel, ts, seq_id, bid_px, bid_sz, bid_orders, "
        "ask_px, ask_sz, ask_orders, received_at) SELECT 'LATE-USDT', 'bbo-tbt', "
        f"toDateTime64('{AS_OF}', 3, 'UTC') + toIntervalSecond(10), 1, toDecimal128(99, 18), "
        "toDecimal128(1, 18), 1, toDecimal128(101, 18), toDecimal128(1, 18), 1, "
        f"toDateTime64('{AS_OF}', 6, 'UTC') - toIntervalSecond(1)"
    )


DEFECTS = (stale_trades, stale_mark_price, duplicate_trades, trade_gap, book_break,
           candles_without_views, late_and_future)  # fmt: skip
