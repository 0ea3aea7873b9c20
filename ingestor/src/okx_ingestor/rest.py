"""OKX REST: the order-book snapshot for the buffering procedure (/api/v5/market/books)
and the instruments list for hft_data.symbols (/api/v5/public/instruments).

Blocking urllib on purpose (no extra dependency): the service calls it through
asyncio.to_thread, paced under OKX's limit (40 requests / 2 s).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import orjson

from .decoder import BookData, DecodeError, _book

DEFAULT_REST_URL = "https://www.okx.com"


class RestError(RuntimeError):
    pass


def _data(body: bytes, what: str) -> object:
    """The `data` of an OKX REST answer `{"code":"0","msg":"","data":[...]}`."""
    try:
        obj = orjson.loads(body)
    except ValueError as exc:
        raise RestError(f"{what} is not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("code") != "0":
        code = obj.get("code") if isinstance(obj, dict) else "?"
        msg = obj.get("msg") if isinstance(obj, dict) else ""
        raise RestError(f"OKX REST error code {code}: {msg}")
    return obj.get("data")


def parse_books_response(body: bytes) -> BookData:
    """`{"code":"0","data":[{"asks":..,"bids":..,"ts":..,"seqId":..}]}` -> BookData."""
    data = _data(body, "books snapshot")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise RestError("books snapshot has no data")
    try:
        snap = _book(data[0])
    except (DecodeError, KeyError, TypeError, ValueError) as exc:
        raise RestError(f"books snapshot malformed: {exc}") from None
    if snap.seq_id is None:
        raise RestError("books snapshot has no seqId (needed for the buffering procedure)")
    return snap


HISTORY_PAGE = 100  # /api/v5/market/history-trades: at most 100 trades per request


def parse_trades_page(body: bytes) -> list[dict[str, object]]:
    """`{"code":"0","data":[{"instId","tradeId","px","sz","side","ts"}, ...]}`, newest
    first -> the data items (checked later, as any push, by the pipeline)."""
    data = _data(body, "trade history")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise RestError("trade history: data is not a list of trades")
    return data


def fetch_trades_page(
    base_url: str, inst_id: str, after: str | None = None, timeout_s: float = 5.0
) -> list[dict[str, object]]:
    """One page of OKX's trade history (newest first), older than tradeId `after`."""
    params = {"instId": inst_id, "type": "1", "limit": str(HISTORY_PAGE)}
    if after is not None:
        params["after"] = after
    url = f"{base_url.rstrip('/')}/api/v5/market/history-trades?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return parse_trades_page(resp.read())
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RestError(f"trade history for {inst_id} failed: {exc}") from None


def fetch_books_snapshot(
    base_url: str, inst_id: str, depth: int = 400, timeout_s: float = 5.0
) -> BookData:
    query = urllib.parse.urlencode({"instId": inst_id, "sz": str(depth)})
    url = f"{base_url.rstrip('/')}/api/v5/market/books?{query}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return parse_books_response(resp.read())
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise RestError(f"GET {url} failed: {exc}") from exc


INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")


def inst_type_of(inst_id: str) -> tuple[str, str | None]:
    """(instType, instFamily for OPTION) from an instId's documented format.

    BTC-USDT -> SPOT; BTC-USDT-SWAP -> SWAP; BTC-USD-250328 -> FUTURES;
    BTC-USD-250328-100000-C -> OPTION of family BTC-USD.
    """
    parts = inst_id.split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return "SWAP", None
    if len(parts) == 3 and parts[2].isdigit():
        return "FUTURES", None
    if len(parts) == 5 and parts[4] in ("C", "P"):
        return "OPTION", f"{parts[0]}-{parts[1]}"
    return "SPOT", None


def _dec(value: object) -> str | None:
    """OKX decimal string, exact; "" (not applicable) -> None."""
    if value is None or value == "":
        return None
    text = str(value)
    Decimal(text)  # raises InvalidOperation on garbage
    return text


def _ms(value: object) -> int | None:
    return None if value in (None, "") else int(str(value))


def instrument_row(obj: dict[str, object], updated_us: int) -> tuple[object, ...]:
    """One /public/instruments entry -> a hft_data.symbols row (files/sql/0002)."""

    def text(key: str) -> str:
        value = obj.get(key)
        return "" if value is None else str(value)

    code = obj.get("instIdCode")
    return (
        text("instId"), text("instType"), text("instFamily"), text("uly"),
        text("baseCcy"), text("quoteCcy"), text("settleCcy"),
        _dec(obj.get("ctVal")), _dec(obj.get("ctMult")), text("ctValCcy"), text("ctType"),
        _dec(obj.get("tickSz")) or "0", _dec(obj.get("lotSz")) or "0",
        _dec(obj.get("minSz")) or "0", text("state"),
        _ms(obj.get("listTime")), _ms(obj.get("expTime")),
        None if code in (None, "") else int(str(code)), updated_us,
    )  # fmt: skip


def parse_instruments_response(body: bytes, updated_us: int) -> list[tuple[object, ...]]:
    """`{"code":"0","msg":"","data":[{instId, tickSz, ...}]}` -> symbols rows.

    A malformed entry fails the whole answer (RestError): the table keeps the previous
    fetch rather than a partial one.
    """
    data = _data(body, "instruments")
    if not isinstance(data, list):
        raise RestError("instruments answer has no data list")
    rows = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not entry.get("instId"):
            raise RestError(f"instruments entry {i} has no instId")
        try:
            rows.append(instrument_row(entry, updated_us))
        except (ValueError, ArithmeticError) as exc:
            raise RestError(f"instruments entry {entry.get('instId')}: {exc}") from None
    return rows


def fetch_instruments(
    base_url: str,
    inst_type: str,
    inst_family: str | None,
    updated_us: int,
    timeout_s: float = 10.0,
) -> list[tuple[object, ...]]:
    params = {"instType": inst_type}
    if inst_family:
        params["instFamily"] = inst_family
    url = f"{base_url.rstrip('/')}/api/v5/public/instruments?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return parse_instruments_response(resp.read(), updated_us)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise RestError(f"GET {url} failed: {exc}") from exc
