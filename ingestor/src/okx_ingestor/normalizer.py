"""Typed messages -> rows (tuples in the column order of schema.py)."""

from __future__ import annotations

from collections.abc import Callable

from .books import L2Book
from .decoder import BookData, BookMsg, FundingRate, IndexTicker, MarkPrice, Ticker, TradesMsg

Row = tuple[object, ...]
Emit = Callable[[str, Row], None]


class Normalizer:
    """Turns messages into rows and hands them to `emit(table, row)`.

    `table` is the fully qualified name (`<database>.<table>`).
    """

    def __init__(self, emit: Emit, database: str = "hft_data", book_levels: bool = True) -> None:
        self.emit = emit
        self.book_levels = book_levels
        self.t_ticks = f"{database}.raw_ticks"
        self.t_bbo = f"{database}.bbo"
        self.t_levels = f"{database}.book_updates"
        self.t_tickers = f"{database}.tickers"
        self.t_funding = f"{database}.funding_rates"
        self.t_mark = f"{database}.mark_prices"
        self.t_index = f"{database}.index_tickers"
        self._last_bbo: dict[tuple[str, str], tuple[object, ...]] = {}

    def trades(self, msg: TradesMsg, received_us: int) -> None:
        emit, table = self.emit, self.t_ticks
        for t in msg.trades:
            emit(table, (t.inst_id, t.trade_id, t.ts, t.px, t.sz, t.side, received_us))

    def book_levels_rows(self, msg: BookMsg, data: BookData, received_us: int) -> None:
        """One row per level of a snapshot/update that was applied to a live book."""
        if not self.book_levels:
            return
        emit, table = self.emit, self.t_levels
        inst, channel, ts, action = msg.inst_id, msg.channel, data.ts, msg.action or "snapshot"
        seq, prev = data.seq_id, data.prev_seq_id
        for side, levels in (("bid", data.bids), ("ask", data.asks)):
            for lv in levels:
                try:
                    n: int | None = int(lv[3])
                except (IndexError, ValueError, TypeError):
                    n = None
                emit(
                    table,
                    (inst, channel, ts, action, side, lv[0], lv[1], n, seq, prev, received_us),
                )

    def bbo_from_book(self, book: L2Book, received_us: int) -> None:
        """Top of a live incremental book, emitted only when it changed."""
        bid, ask = book.best_bid(), book.best_ask()
        key = (book.channel, book.inst_id)
        top = (bid, ask)
        if self._last_bbo.get(key) == top:
            return
        self._last_bbo[key] = top
        self._emit_bbo(
            book.inst_id, book.channel, book.last_ts, bid, ask, book.last_seq_id, received_us
        )

    def bbo_from_snapshot(self, msg: BookMsg, data: BookData, received_us: int) -> None:
        """books5 / bbo-tbt: every push is a full top-of-book snapshot."""
        bid = (data.bids[0][0], data.bids[0][1]) if data.bids else None
        ask = (data.asks[0][0], data.asks[0][1]) if data.asks else None
        self._emit_bbo(msg.inst_id, msg.channel, data.ts, bid, ask, data.seq_id, received_us)

    def _emit_bbo(
        self,
        inst_id: str,
        channel: str,
        ts: int,
        bid: tuple[str, str] | None,
        ask: tuple[str, str] | None,
        seq_id: int | None,
        received_us: int,
    ) -> None:
        self.emit(
            self.t_bbo,
            (
                inst_id,
                channel,
                ts,
                bid[0] if bid else None,
                bid[1] if bid else None,
                ask[0] if ask else None,
                ask[1] if ask else None,
                seq_id,
                received_us,
            ),
        )

    def ticker(self, r: Ticker, received_us: int) -> None:
        self.emit(
            self.t_tickers,
            (
                r.inst_id,
                r.inst_type,
                r.ts,
                r.last,
                r.last_sz,
                r.bid_px,
                r.bid_sz,
                r.ask_px,
                r.ask_sz,
                r.open24h,
                r.high24h,
                r.low24h,
                r.vol24h,
                r.vol_ccy24h,
                received_us,
            ),
        )

    def funding(self, r: FundingRate, received_us: int) -> None:
        self.emit(
            self.t_funding,
            (
                r.inst_id,
                r.inst_type,
                r.ts,
                r.funding_rate,
                r.funding_time,
                r.next_funding_time,
                r.premium,
                r.sett_funding_rate,
                r.sett_state,
                r.method,
                received_us,
            ),
        )

    def mark(self, r: MarkPrice, received_us: int) -> None:
        self.emit(self.t_mark, (r.inst_id, r.inst_type, r.ts, r.mark_px, received_us))

    def index(self, r: IndexTicker, received_us: int) -> None:
        self.emit(
            self.t_index,
            (r.inst_id, r.ts, r.idx_px, r.open24h, r.high24h, r.low24h, received_us),
        )
