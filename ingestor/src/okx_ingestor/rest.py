"""OKX REST: the order-book snapshot for the buffering procedure (/api/v5/market/books).

Blocking urllib on purpose (no extra dependency): the service calls it through
asyncio.to_thread, paced under OKX's limit (40 requests / 2 s).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import orjson

from .decoder import BookData, DecodeError, _book

DEFAULT_REST_URL = "https://www.okx.com"


class RestError(RuntimeError):
    pass


def parse_books_response(body: bytes) -> BookData:
    """`{"code":"0","data":[{"asks":..,"bids":..,"ts":..,"seqId":..}]}` -> BookData."""
    try:
        obj = orjson.loads(body)
    except ValueError as exc:
        raise RestError(f"books snapshot is not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("code") != "0":
        code = obj.get("code") if isinstance(obj, dict) else "?"
        msg = obj.get("msg") if isinstance(obj, dict) else ""
        raise RestError(f"OKX REST error code {code}: {msg}")
    data = obj.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise RestError("books snapshot has no data")
    try:
        snap = _book(data[0])
    except (DecodeError, KeyError, TypeError, ValueError) as exc:
        raise RestError(f"books snapshot malformed: {exc}") from None
    if snap.seq_id is None:
        raise RestError("books snapshot has no seqId (needed for the buffering procedure)")
    return snap


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
