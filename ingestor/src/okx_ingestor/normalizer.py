"""Typed messages -> rows (tuples in the column order of schema.py / files/sql)."""

from __future__ import annotations

from collections.abc import Callable

from .books import L2Book
from .decoder import (
    BookData,
    BookMsg,
    EstimatedPrice,
    FundingRate,
    IndexTicker,
    Instrument,
    LiquidationOrders,
    MarkPrice,
    OpenInterest,
    OptSummary,
    PriceLimit,
    SystemStatus,
    Ticker,
    TradesMsg,
)

Row = tuple[object, ...]
Emit = Callable[[str, Row], None]


def _orders(levels: list[list[str]]) -> list[int]:
    out = []
    for lv in levels:
        try:
            out.append(int(lv[3]))
        except (IndexError, ValueError, TypeError):
            out.append(0)
    return out


class Normalizer:
    """Turns messages into rows and hands them to `emit(table, row)`.

    `table` is the fully qualified name (`<database>.<table>`). Missing integers
    (seqId before 2022-H2, trade count/source) become the column DEFAULTs of files/sql.
    """

    def __init__(self, emit: Emit, database: str = "hft_data", book_levels: bool = True) -> None:
        self.emit = emit
        self.book_levels = book_levels
        self.t_ticks = f"{database}.raw_ticks"
        self.t_bbo = f"{database}.bbo"
        self.t_book = f"{database}.book_l2"
        self.t_tickers = f"{database}.tickers"
        self.t_funding = f"{database}.funding_rates"
        self.t_mark = f"{database}.mark_prices"
        self.t_index = f"{database}.index_tickers"
        self.t_oi = f"{database}.open_interest"
        self.t_limits = f"{database}.price_limits"
        self.t_estimated = f"{database}.estimated_prices"
        self.t_liquidations = f"{database}.liquidations"
        self.t_options = f"{database}.option_summaries"
        self.t_symbols = f"{database}.symbols"
        self.t_status = f"{database}.system_status"

    def trades(self, msg: TradesMsg, received_us: int) -> None:
        emit, table = self.emit, self.t_ticks
        for t in msg.trades:
            emit(
                table,
                (t.inst_id, int(t.trade_id), t.ts, t.px, t.sz, t.side,
                 1 if t.count is None else t.count, t.source or 0, t.seq_id or 0, received_us),
            )  # fmt: skip

    def book_message(self, msg: BookMsg, data: BookData, received_us: int) -> None:
        """One book_l2 row per applied snapshot/update, levels as parallel arrays."""
        if not self.book_levels:
            return
        bids, asks = data.bids, data.asks
        seq = data.seq_id
        prev = data.prev_seq_id
        if prev is None:
            prev = -1 if msg.action == "snapshot" else 0
        # Compact row: the level lists are split into arrays off the hot path
        # (schema.expand_row, in the writer thread / replay).
        self.emit(
            self.t_book,
            (msg.inst_id, msg.channel, msg.action or "snapshot", data.ts,
             0 if seq is None else seq, prev, data.checksum, bids, asks, received_us),
        )  # fmt: skip

    def bbo_from_book(self, book: L2Book, received_us: int) -> None:
        """Top of a live incremental book, emitted only when it changed."""
        top = book.top_of_book()
        if book.last_top == top:  # the book's own strings: usually an identity hit
            return
        book.last_top = top
        bid_px, bid_sz, ask_px, ask_sz = top
        self.emit(
            self.t_bbo,
            (book.inst_id, book.last_ts, book.last_seq_id or 0, bid_px, bid_sz, 0, ask_px,
             ask_sz, 0, received_us, book.channel),
        )  # fmt: skip

    def bbo_from_snapshot(self, msg: BookMsg, data: BookData, received_us: int) -> None:
        """books5 / bbo-tbt: every push is a full top-of-book snapshot."""
        b = data.bids[0] if data.bids else ("0", "0", "0", "0")
        a = data.asks[0] if data.asks else ("0", "0", "0", "0")
        self.emit(
            self.t_bbo,
            (msg.inst_id, data.ts, data.seq_id or 0, b[0], b[1], _orders([list(b)])[0],
             a[0], a[1], _orders([list(a)])[0], received_us, msg.channel),
        )  # fmt: skip

    def ticker(self, r: Ticker, received_us: int) -> None:
        self.emit(
            self.t_tickers,
            (r.inst_id, r.inst_type, r.ts, r.last, r.last_sz, r.bid_px, r.bid_sz, r.ask_px,
             r.ask_sz, r.open24h, r.high24h, r.low24h, r.vol24h, r.vol_ccy24h, received_us),
        )  # fmt: skip

    def funding(self, r: FundingRate, received_us: int) -> None:
        self.emit(
            self.t_funding,
            (r.inst_id, r.inst_type, r.ts, r.funding_rate, r.funding_time,
             r.next_funding_time or 0, r.premium, r.sett_funding_rate, r.sett_state or "",
             r.min_funding_rate, r.max_funding_rate, r.impact_value, r.interest_rate,
             r.method or "", r.formula_type or "", received_us),
        )  # fmt: skip

    def mark(self, r: MarkPrice, received_us: int) -> None:
        self.emit(self.t_mark, (r.inst_id, r.inst_type, r.ts, r.mark_px, received_us))

    def index(self, r: IndexTicker, received_us: int) -> None:
        self.emit(
            self.t_index,
            (r.inst_id, r.ts, r.idx_px, r.open24h, r.high24h, r.low24h, received_us),
        )

    # -- issue 13: the other public channels ------------------------------------------
    def open_interest(self, r: OpenInterest, received_us: int) -> None:
        self.emit(self.t_oi, (r.inst_id, r.inst_type, r.ts, r.oi, r.oi_ccy, r.oi_usd, received_us))

    def price_limit(self, r: PriceLimit, received_us: int) -> None:
        self.emit(
            self.t_limits,
            (r.inst_id, r.inst_type, r.ts, r.buy_lmt, r.sell_lmt, int(r.enabled), received_us),
        )

    def estimated_price(self, r: EstimatedPrice, received_us: int) -> None:
        self.emit(
            self.t_estimated,
            (r.inst_id, r.inst_type, r.ts, r.settle_type, r.settle_px, received_us),
        )

    def liquidations(self, r: LiquidationOrders, received_us: int) -> None:
        """One row per liquidation (an item's `details`)."""
        emit, table = self.emit, self.t_liquidations
        for x in r.details:
            emit(
                table,
                (r.inst_id, r.inst_type, r.inst_family, x.ts, x.side, x.pos_side, x.bk_px,
                 x.sz, x.bk_loss, x.ccy, received_us),
            )  # fmt: skip

    def opt_summary(self, r: OptSummary, received_us: int) -> None:
        self.emit(
            self.t_options,
            (r.inst_id, r.inst_family, r.uly, r.ts, r.delta, r.gamma, r.vega, r.theta,
             r.delta_bs, r.gamma_bs, r.vega_bs, r.theta_bs, r.lever, r.mark_vol, r.bid_vol,
             r.ask_vol, r.real_vol, r.vol_lv, r.fwd_px, received_us),
        )  # fmt: skip

    def instrument(self, r: Instrument, received_us: int) -> None:
        """An instruments push: a symbols row, as from the REST list (updated_at = now)."""
        self.emit(self.t_symbols, (*r.row, received_us))

    def status(self, r: SystemStatus, received_us: int) -> None:
        self.emit(
            self.t_status,
            (r.ts, r.title, r.state, r.begin, r.end, r.pre_open_begin, r.href, r.service_type,
             r.system, r.sche_desc, r.maint_type, r.env, received_us),
        )  # fmt: skip
