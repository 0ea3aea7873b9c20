"""The rows the ingestor writes: one ordered column list per table.

Column kinds tell each sink how to encode a value:
  str   -> String / LowCardinality(String)
  dec   -> Decimal: the exact OKX string (never float); None when nullable and absent
  ms    -> DateTime64(3, 'UTC') from int milliseconds
  us    -> DateTime64(6, 'UTC') from int microseconds
  int   -> Int64 / UInt64 / UInt32 / Int32
  decs  -> Array(Decimal): list of exact strings
  ints  -> Array(UInt32): list of ints

raw_ticks columns are fixed by issue 5; all tables with in_sql=True follow files/sql
(tests/test_chdb.py compares them). tickers and index_tickers are in files/sql since
0007, as is bbo.channel (the channel the row came from: bbo-tbt, books5 or the
incremental book's channel); it is last in the row, so positions of older columns hold.
open_interest, price_limits, estimated_prices, liquidations, option_summaries and
system_status are in files/sql since 0008 (issue 13); the instruments channel feeds
symbols, as the REST instruments list does.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATABASE = "hft_data"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    in_sql: bool = True  # False: not (yet) in files/sql; ClickHouse sinks skip it

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


RAW_TICKS = Table(
    "raw_ticks",
    (
        ("inst_id", "str"),
        ("trade_id", "int"),
        ("ts", "ms"),
        ("price", "dec"),
        ("size", "dec"),
        ("side", "str"),
        ("count", "int"),
        ("source", "int"),
        ("seq_id", "int"),
        ("received_at", "us"),
    ),
)
BOOK_L2 = Table(
    "book_l2",
    (
        ("inst_id", "str"),
        ("channel", "str"),
        ("action", "str"),
        ("ts", "ms"),
        ("seq_id", "int"),
        ("prev_seq_id", "int"),
        ("checksum", "int"),
        ("bid_prices", "decs"),
        ("bid_sizes", "decs"),
        ("bid_orders", "ints"),
        ("ask_prices", "decs"),
        ("ask_sizes", "decs"),
        ("ask_orders", "ints"),
        ("received_at", "us"),
    ),
)
BBO = Table(
    "bbo",
    (
        ("inst_id", "str"),
        ("ts", "ms"),
        ("seq_id", "int"),
        ("bid_px", "dec"),
        ("bid_sz", "dec"),
        ("bid_orders", "int"),
        ("ask_px", "dec"),
        ("ask_sz", "dec"),
        ("ask_orders", "int"),
        ("received_at", "us"),
        ("channel", "str"),
    ),
)
FUNDING_RATES = Table(
    "funding_rates",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("funding_rate", "dec"),
        ("funding_time", "ms"),
        ("next_funding_time", "ms"),
        ("premium", "dec"),
        ("sett_funding_rate", "dec"),
        ("sett_state", "str"),
        ("min_funding_rate", "dec"),
        ("max_funding_rate", "dec"),
        ("impact_value", "dec"),
        ("interest_rate", "dec"),
        ("method", "str"),
        ("formula_type", "str"),
        ("received_at", "us"),
    ),
)
MARK_PRICES = Table(
    "mark_prices",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("mark_px", "dec"),
        ("received_at", "us"),
    ),
)
TICKERS = Table(
    "tickers",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("last", "dec"),
        ("last_sz", "dec"),
        ("bid_px", "dec"),
        ("bid_sz", "dec"),
        ("ask_px", "dec"),
        ("ask_sz", "dec"),
        ("open_24h", "dec"),
        ("high_24h", "dec"),
        ("low_24h", "dec"),
        ("vol_24h", "dec"),
        ("vol_ccy_24h", "dec"),
        ("received_at", "us"),
    ),
)
INDEX_TICKERS = Table(
    "index_tickers",
    (
        ("inst_id", "str"),
        ("ts", "ms"),
        ("idx_px", "dec"),
        ("open_24h", "dec"),
        ("high_24h", "dec"),
        ("low_24h", "dec"),
        ("received_at", "us"),
    ),
)
# Issue 13 (files/sql/0008): the other public channels.
OPEN_INTEREST = Table(
    "open_interest",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("oi", "dec"),
        ("oi_ccy", "dec"),
        ("oi_usd", "dec"),
        ("received_at", "us"),
    ),
)
PRICE_LIMITS = Table(
    "price_limits",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("buy_lmt", "dec"),
        ("sell_lmt", "dec"),
        ("enabled", "int"),
        ("received_at", "us"),
    ),
)
ESTIMATED_PRICES = Table(
    "estimated_prices",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("ts", "ms"),
        ("settle_type", "str"),
        ("settle_px", "dec"),
        ("received_at", "us"),
    ),
)
LIQUIDATIONS = Table(
    "liquidations",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("inst_family", "str"),
        ("ts", "ms"),
        ("side", "str"),
        ("pos_side", "str"),
        ("bk_px", "dec"),
        ("sz", "dec"),
        ("bk_loss", "dec"),
        ("ccy", "str"),
        ("received_at", "us"),
    ),
)
OPTION_SUMMARIES = Table(
    "option_summaries",
    (
        ("inst_id", "str"),
        ("inst_family", "str"),
        ("uly", "str"),
        ("ts", "ms"),
        ("delta", "dec"),
        ("gamma", "dec"),
        ("vega", "dec"),
        ("theta", "dec"),
        ("delta_bs", "dec"),
        ("gamma_bs", "dec"),
        ("vega_bs", "dec"),
        ("theta_bs", "dec"),
        ("lever", "dec"),
        ("mark_vol", "dec"),
        ("bid_vol", "dec"),
        ("ask_vol", "dec"),
        ("real_vol", "dec"),
        ("vol_lv", "dec"),
        ("fwd_px", "dec"),
        ("received_at", "us"),
    ),
)
SYSTEM_STATUS = Table(
    "system_status",
    (
        ("ts", "ms"),
        ("title", "str"),
        ("state", "str"),
        ("begin_time", "ms"),
        ("end_time", "ms"),
        ("pre_open_time", "ms"),
        ("href", "str"),
        ("service_type", "str"),
        ("system", "str"),
        ("sche_desc", "str"),
        ("maint_type", "str"),
        ("env", "str"),
        ("received_at", "us"),
    ),
)

SYMBOLS = Table(
    "symbols",
    (
        ("inst_id", "str"),
        ("inst_type", "str"),
        ("inst_family", "str"),
        ("uly", "str"),
        ("base_ccy", "str"),
        ("quote_ccy", "str"),
        ("settle_ccy", "str"),
        ("ct_val", "dec"),
        ("ct_mult", "dec"),
        ("ct_val_ccy", "str"),
        ("ct_type", "str"),
        ("tick_sz", "dec"),
        ("lot_sz", "dec"),
        ("min_sz", "dec"),
        ("state", "str"),
        ("list_time", "ms"),
        ("exp_time", "ms"),
        ("inst_id_code", "int"),
        ("updated_at", "us"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        RAW_TICKS, BOOK_L2, BBO, FUNDING_RATES, MARK_PRICES, TICKERS, INDEX_TICKERS, SYMBOLS,
        OPEN_INTEREST, PRICE_LIMITS, ESTIMATED_PRICES, LIQUIDATIONS, OPTION_SUMMARIES,
        SYSTEM_STATUS,
    )
}  # fmt: skip


# DateTime64's range (1900-01-01 .. 2299-12-31 23:59:59 UTC), in seconds.
MIN_SECONDS, MAX_SECONDS = -2_208_988_800, 10_413_791_999


def format_ms(ms: int) -> str:
    """int ms -> 'YYYY-MM-DD hh:mm:ss.fff' (UTC), the text form ClickHouse parses.
    ValueError outside DateTime64's range (never OSError/OverflowError from gmtime)."""
    return _format(ms // 1000) + f".{ms % 1000:03d}"


def format_us(us: int) -> str:
    """int µs -> 'YYYY-MM-DD hh:mm:ss.ffffff' (UTC); ValueError as format_ms."""
    return _format(us // 1_000_000) + f".{us % 1_000_000:06d}"


_SECOND_CACHE: dict[int, str] = {}


def _format(seconds: int) -> str:
    text = _SECOND_CACHE.get(seconds)
    if text is None:
        import time

        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise ValueError(
                f"timestamp {seconds} s is outside DateTime64's range (years 1900-2299)"
            )

        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
        if len(_SECOND_CACHE) > 4096:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[seconds] = text
    return text


def _split_levels(levels: object) -> tuple[list[str], list[str], list[int]]:
    prices, sizes, orders = [], [], []
    for lv in levels:  # type: ignore[attr-defined]
        prices.append(lv[0])
        sizes.append(lv[1])
        try:
            orders.append(int(lv[3]))
        except (IndexError, ValueError, TypeError):
            orders.append(0)
    return prices, sizes, orders


def expand_row(table: Table, row: tuple[object, ...]) -> tuple[object, ...]:
    """The stored row in column order.

    book_l2 rows are kept compact on the hot path, with the raw OKX level lists
    (`(..., checksum, bids, asks, received_at)`); they are split into the six level
    arrays here, in the writer thread or in replay. Other rows are already in order.
    """
    if table is not BOOK_L2 or len(row) == len(table.columns):
        return row
    bp, bs, bo = _split_levels(row[7])
    ap, as_, ao = _split_levels(row[8])
    return (*row[:7], bp, bs, bo, ap, as_, ao, row[9])


def row_to_json(table: Table, row: tuple[object, ...]) -> dict[str, object]:
    """A row as the JSON object written by replay / the JSON lines sink."""
    row = expand_row(table, row)
    out: dict[str, object] = {}
    for (name, kind), value in zip(table.columns, row, strict=True):
        if value is not None and kind == "ms":
            value = format_ms(value)  # type: ignore[arg-type]
        elif value is not None and kind == "us":
            value = format_us(value)  # type: ignore[arg-type]
        out[name] = value
    return out
