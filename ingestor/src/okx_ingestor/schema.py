"""The rows the ingestor writes: one ordered column list per table.

Column kinds tell each sink how to encode a value:
  str   -> String / LowCardinality(String)
  dec   -> Decimal: the exact OKX string (never float); None when nullable and absent
  ms    -> DateTime64(3, 'UTC') from int milliseconds
  us    -> DateTime64(6, 'UTC') from int microseconds
  int   -> Int64 / UInt64 (may be None when nullable)

raw_ticks columns are fixed by issue 5. The others follow files/sql; keep this file and
files/sql/*.sql in step (tests/test_schema.py compares them when files/sql exists).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATABASE = "hft_data"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


RAW_TICKS = Table(
    "raw_ticks",
    (
        ("inst_id", "str"),
        ("trade_id", "str"),
        ("ts", "ms"),
        ("price", "dec"),
        ("size", "dec"),
        ("side", "str"),
        ("received_at", "us"),
    ),
)
BBO = Table(
    "bbo",
    (
        ("inst_id", "str"),
        ("channel", "str"),
        ("ts", "ms"),
        ("bid_px", "dec"),
        ("bid_sz", "dec"),
        ("ask_px", "dec"),
        ("ask_sz", "dec"),
        ("seq_id", "int"),
        ("received_at", "us"),
    ),
)
BOOK_UPDATES = Table(
    "book_updates",
    (
        ("inst_id", "str"),
        ("channel", "str"),
        ("ts", "ms"),
        ("action", "str"),
        ("side", "str"),
        ("price", "dec"),
        ("size", "dec"),
        ("num_orders", "int"),
        ("seq_id", "int"),
        ("prev_seq_id", "int"),
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
        ("method", "str"),
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

TABLES: dict[str, Table] = {
    t.name: t
    for t in (RAW_TICKS, BBO, BOOK_UPDATES, TICKERS, FUNDING_RATES, MARK_PRICES, INDEX_TICKERS)
}


def format_ms(ms: int) -> str:
    """int ms -> 'YYYY-MM-DD hh:mm:ss.fff' (UTC), the text form ClickHouse parses."""
    return _format(ms // 1000) + f".{ms % 1000:03d}"


def format_us(us: int) -> str:
    """int µs -> 'YYYY-MM-DD hh:mm:ss.ffffff' (UTC)."""
    return _format(us // 1_000_000) + f".{us % 1_000_000:06d}"


_SECOND_CACHE: dict[int, str] = {}


def _format(seconds: int) -> str:
    text = _SECOND_CACHE.get(seconds)
    if text is None:
        import time

        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
        if len(_SECOND_CACHE) > 4096:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[seconds] = text
    return text


def row_to_json(table: Table, row: tuple[object, ...]) -> dict[str, object]:
    """A row as the JSON object written by replay / the JSON lines sink."""
    out: dict[str, object] = {}
    for (name, kind), value in zip(table.columns, row, strict=True):
        if value is not None and kind == "ms":
            value = format_ms(value)  # type: ignore[arg-type]
        elif value is not None and kind == "us":
            value = format_us(value)  # type: ignore[arg-type]
        out[name] = value
    return out
