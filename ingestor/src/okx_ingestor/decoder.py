"""Raw OKX v5 WebSocket text frame -> one typed message.

Prices and sizes stay the exact strings OKX sent (never float); exchange timestamps
become int milliseconds. Anything malformed raises DecodeError with a short `kind`
so callers can count it and log it once per kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

try:  # orjson is a declared dependency; json keeps the decoder usable without it.
    import orjson

    _loads = orjson.loads
    JSON_LIBRARY = "orjson"
except ImportError:  # pragma: no cover - exercised only where orjson is missing
    import json

    _loads = json.loads
    JSON_LIBRARY = "json"

from .validate import (
    DECIMAL,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    UINT8_MAX,
    UINT32_MAX,
    UINT64_MAX,
    inst_id_ok,
    is_signed_decimal,
    ms_of,
    uint_text,
)

# Prices, sizes and rates: plain ASCII decimals that fit Decimal(38, 18) (validate.py).
_NUMBER = DECIMAL
_NUMBER_MATCH = _NUMBER.fullmatch

_EMPTY: list[list[str]] = []  # never mutated
BOOK_CHANNELS = frozenset({"books", "books5", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt"})
INCREMENTAL_BOOK_CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
TRADE_CHANNELS = frozenset({"trades", "trades-all"})


class DecodeError(ValueError):
    """A frame that cannot be turned into a message; `kind` is stable for counting."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass(slots=True)
class Pong:
    """The text `pong` answer to our text `ping`."""


PONG = Pong()


@dataclass(slots=True)
class Event:
    """subscribe / unsubscribe acks, `error` (with code), `notice` (64008), others."""

    event: str
    code: str | None
    msg: str
    arg: dict[str, Any] | None
    conn_id: str | None
    req_id: str | None


@dataclass(slots=True)
class Trade:
    inst_id: str
    trade_id: str
    px: str
    sz: str
    side: str
    ts: int
    count: int | None
    seq_id: int | None
    source: int | None


@dataclass(slots=True)
class TradesMsg:
    channel: str
    inst_id: str
    trades: list[Trade]


@dataclass(slots=True)
class BookData:
    """One book push. Levels are [price, size, deprecated, numOrders] strings."""

    asks: Sequence[Sequence[str]]  # lists from decode(); tuples from the pipeline's fast path
    bids: Sequence[Sequence[str]]
    ts: int
    checksum: int
    seq_id: int | None
    prev_seq_id: int | None


@dataclass(slots=True)
class BookMsg:
    channel: str
    inst_id: str
    action: str | None  # "snapshot" | "update" | None (books5, bbo-tbt: always full)
    items: list[BookData]


@dataclass(slots=True)
class Ticker:
    inst_type: str
    inst_id: str
    last: str
    last_sz: str
    ask_px: str | None
    ask_sz: str | None
    bid_px: str | None
    bid_sz: str | None
    open24h: str | None
    high24h: str | None
    low24h: str | None
    vol_ccy24h: str | None
    vol24h: str | None
    ts: int


@dataclass(slots=True)
class FundingRate:
    inst_type: str
    inst_id: str
    funding_rate: str
    funding_time: int
    next_funding_time: int | None
    premium: str | None
    sett_funding_rate: str | None
    sett_state: str | None
    min_funding_rate: str | None
    max_funding_rate: str | None
    impact_value: str | None
    interest_rate: str | None
    method: str | None
    formula_type: str | None
    ts: int


@dataclass(slots=True)
class MarkPrice:
    inst_type: str
    inst_id: str
    mark_px: str
    ts: int


@dataclass(slots=True)
class IndexTicker:
    inst_id: str
    idx_px: str
    open24h: str | None
    high24h: str | None
    low24h: str | None
    ts: int


@dataclass(slots=True)
class RecordsMsg:
    """tickers, funding-rate, mark-price, index-tickers: a list of typed records."""

    channel: str
    inst_id: str
    records: list[Any]


Message = Pong | Event | TradesMsg | BookMsg | RecordsMsg


def decode(frame: str | bytes) -> Message:
    """Decode one WebSocket text frame; raise DecodeError when it is not usable."""
    if frame == "pong" or frame == b"pong":
        return PONG
    try:
        obj = _loads(frame)
    except ValueError as exc:
        raise DecodeError("invalid_json", str(exc)[:80]) from None
    if type(obj) is not dict:
        raise DecodeError("not_an_object")
    try:
        return _dispatch(obj)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        channel = _channel_of(obj)
        raise DecodeError(f"bad_shape:{channel}", repr(exc)[:80]) from None


def _channel_of(obj: dict[str, Any]) -> str:
    arg = obj.get("arg")
    if isinstance(arg, dict) and isinstance(arg.get("channel"), str):
        return arg["channel"][:40]
    return "?"


def _dispatch(obj: dict[str, Any]) -> Message:
    event = obj.get("event")
    if event is not None:
        return _event(obj, event)
    arg = obj["arg"]
    channel = arg["channel"]
    inst_id = arg["instId"]
    data = obj["data"]
    if type(data) is not list or type(inst_id) is not str:
        raise DecodeError(f"bad_shape:{_channel_of(obj)}", "data must be a list")
    if not inst_id_ok(inst_id):
        raise DecodeError("bad_inst_id", repr(inst_id)[:40])
    if channel in BOOK_CHANNELS:
        return BookMsg(channel, inst_id, obj.get("action"), [_book(d, inst_id) for d in data])
    if channel in TRADE_CHANNELS:
        return TradesMsg(channel, inst_id, [_trade(d, inst_id) for d in data])
    parser = _RECORD_PARSERS.get(channel)
    if parser is None:
        raise DecodeError(f"unknown_channel:{str(channel)[:40]}")
    return RecordsMsg(channel, inst_id, [parser(d, inst_id) for d in data])


def _event(obj: dict[str, Any], event: Any) -> Event:
    """An event (ack, error, notice, ...). Unknown event names pass (OKX adds some), but
    a field of a shape OKX never sends quarantines it: `arg` not an object, `code` not a
    string or an integer (an `{"event":"subscribe","arg":"x"}` is no ack of ours)."""
    if type(event) is not str or not event.isascii() or len(event) > 64:
        raise DecodeError("bad_shape:event", repr(event)[:40])
    code = obj.get("code")
    arg = obj.get("arg")
    if arg is not None and type(arg) is not dict:
        raise DecodeError("bad_shape:event", f"arg {arg!r}"[:80])
    if code is not None and type(code) is not str and type(code) is not int:
        raise DecodeError("bad_shape:event", f"code {code!r}"[:80])
    return Event(
        event=event,
        code=None if code is None else str(code),
        msg=str(obj.get("msg", "")),
        arg=arg if isinstance(arg, dict) else None,
        conn_id=obj.get("connId"),
        req_id=obj.get("id"),
    )


def _num(value: Any, field: str) -> str:
    if type(value) is str and _NUMBER.fullmatch(value):
        return value
    raise DecodeError(f"bad_number:{field}", repr(value)[:40])


def _opt_num(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    return _num(value, field)


def _signed(value: Any, field: str) -> str:
    if type(value) is str and is_signed_decimal(value):
        return value
    raise DecodeError(f"bad_number:{field}", repr(value)[:40])


def _opt_signed(value: Any, field: str) -> str | None:
    """A rate that may be negative (funding), "" or None -> None."""
    if value is None or value == "":
        return None
    if type(value) is str and is_signed_decimal(value):
        return value
    raise DecodeError(f"bad_number:{field}", repr(value)[:40])


def _ms(value: Any, field: str = "ts") -> int:
    ms = ms_of(value)
    if ms is None:
        raise DecodeError(f"bad_timestamp:{field}", repr(value)[:40])
    return ms


def _opt_ms(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    return _ms(value, field)


def _opt_int(value: Any, field: str) -> int | None:
    """seqId / prevSeqId: Int64, a JSON int or an ASCII decimal string."""
    if value is None:
        return None
    if type(value) is str and len(value) <= 20 and value.isascii():
        digits = value[1:] if value.startswith("-") else value
        if digits.isdigit():
            value = int(value)
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    raise DecodeError(f"bad_integer:{field}", repr(value)[:40])


def _opt_uint(value: Any, field: str, max_text: str) -> int | None:
    """count (UInt32) / source (UInt8): a JSON int or an ASCII decimal string."""
    if value is None:
        return None
    if type(value) is int and 0 <= value <= int(max_text):
        return value
    if uint_text(value, max_text):
        return int(value)
    raise DecodeError(f"bad_integer:{field}", repr(value)[:40])


def _levels(raw: Any, field: str) -> list[list[str]]:
    if type(raw) is not list:
        raise DecodeError(f"bad_levels:{field}")
    match = _NUMBER_MATCH
    try:
        for level in raw:
            if match(level[0]) is None or match(level[1]) is None:
                raise DecodeError(f"bad_levels:{field}", repr(level)[:40])
            if len(level) > 3 and not uint_text(level[3], UINT32_MAX):  # numOrders
                raise DecodeError(f"bad_levels:{field}", repr(level)[:40])
    except (TypeError, IndexError, KeyError):
        raise DecodeError(f"bad_levels:{field}", "levels must be [price, size, ...]") from None
    return raw


def _book(d: dict[str, Any], inst_id: str | None = None) -> BookData:
    """One books item; `inst_id` None for a REST snapshot (its items have no instId)."""
    checksum = d.get("checksum", 0)
    if type(checksum) is not int or not INT32_MIN <= checksum <= INT32_MAX:
        raise DecodeError("bad_integer:checksum", repr(checksum)[:40])
    if inst_id is not None:
        _same_inst(d, inst_id)
    return BookData(
        _levels(d.get("asks", _EMPTY), "asks"),
        _levels(d.get("bids", _EMPTY), "bids"),
        _ms(d["ts"]),
        checksum,
        _opt_int(d.get("seqId"), "seqId"),
        _opt_int(d.get("prevSeqId"), "prevSeqId"),
    )


def _same_inst(d: dict[str, Any], inst_id: str) -> str:
    """A data item's own instId, when it has one, must be the subscription's."""
    own = d.get("instId", inst_id)
    if own != inst_id:
        raise DecodeError("inst_id_mismatch", f"{own!r} in a push for {inst_id!r}"[:80])
    return inst_id


def _side(value: Any) -> str:
    if value == "buy" or value == "sell":
        return value
    raise DecodeError("bad_side", repr(value)[:20])


def _trade(d: dict[str, Any], inst_id: str) -> Trade:
    # The hot path: checks inlined, helpers only for the unusual cases.
    trade_id, px, sz, side, ts = d["tradeId"], d["px"], d["sz"], d["side"], d["ts"]
    if not uint_text(trade_id, UINT64_MAX):
        raise DecodeError("bad_trade_id", repr(trade_id)[:40])
    if type(px) is not str or _NUMBER_MATCH(px) is None:
        raise DecodeError("bad_number:px", repr(px)[:40])
    if type(sz) is not str or _NUMBER_MATCH(sz) is None:
        raise DecodeError("bad_number:sz", repr(sz)[:40])
    if side != "buy" and side != "sell":
        raise DecodeError("bad_side", repr(side)[:20])
    return Trade(
        _same_inst(d, inst_id),
        trade_id,
        px,
        sz,
        side,
        _ms(ts),
        _opt_uint(d.get("count"), "count", UINT32_MAX),
        _opt_int(d.get("seqId"), "seqId"),
        _opt_uint(d.get("source"), "source", UINT8_MAX),
    )


def _ticker(d: dict[str, Any], inst_id: str) -> Ticker:
    return Ticker(
        inst_type=str(d.get("instType", "")),
        inst_id=_same_inst(d, inst_id),
        last=_num(d["last"], "last"),
        last_sz=_num(d["lastSz"], "lastSz"),
        ask_px=_opt_num(d.get("askPx"), "askPx"),
        ask_sz=_opt_num(d.get("askSz"), "askSz"),
        bid_px=_opt_num(d.get("bidPx"), "bidPx"),
        bid_sz=_opt_num(d.get("bidSz"), "bidSz"),
        open24h=_opt_num(d.get("open24h"), "open24h"),
        high24h=_opt_num(d.get("high24h"), "high24h"),
        low24h=_opt_num(d.get("low24h"), "low24h"),
        vol_ccy24h=_opt_num(d.get("volCcy24h"), "volCcy24h"),
        vol24h=_opt_num(d.get("vol24h"), "vol24h"),
        ts=_ms(d["ts"]),
    )


def _funding(d: dict[str, Any], inst_id: str) -> FundingRate:
    return FundingRate(
        inst_type=str(d.get("instType", "")),
        inst_id=_same_inst(d, inst_id),
        funding_rate=_signed(d["fundingRate"], "fundingRate"),
        funding_time=_ms(d["fundingTime"], "fundingTime"),
        next_funding_time=_opt_ms(d.get("nextFundingTime"), "nextFundingTime"),
        premium=_opt_signed(d.get("premium"), "premium"),
        sett_funding_rate=_opt_signed(d.get("settFundingRate"), "settFundingRate"),
        sett_state=d.get("settState") or None,
        min_funding_rate=_opt_signed(d.get("minFundingRate"), "minFundingRate"),
        max_funding_rate=_opt_signed(d.get("maxFundingRate"), "maxFundingRate"),
        impact_value=_opt_num(d.get("impactValue"), "impactValue"),
        interest_rate=_opt_signed(d.get("interestRate"), "interestRate"),
        method=d.get("method") or None,
        formula_type=d.get("formulaType") or None,
        ts=_ms(d["ts"]),
    )


def _mark(d: dict[str, Any], inst_id: str) -> MarkPrice:
    return MarkPrice(
        inst_type=str(d.get("instType", "")),
        inst_id=_same_inst(d, inst_id),
        mark_px=_num(d["markPx"], "markPx"),
        ts=_ms(d["ts"]),
    )


def _index(d: dict[str, Any], inst_id: str) -> IndexTicker:
    return IndexTicker(
        inst_id=_same_inst(d, inst_id),
        idx_px=_num(d["idxPx"], "idxPx"),
        open24h=_opt_num(d.get("open24h"), "open24h"),
        high24h=_opt_num(d.get("high24h"), "high24h"),
        low24h=_opt_num(d.get("low24h"), "low24h"),
        ts=_ms(d["ts"]),
    )


_RECORD_PARSERS: dict[str, Any] = {
    "tickers": _ticker,
    "funding-rate": _funding,
    "mark-price": _mark,
    "index-tickers": _index,
}


# -- fast path ----------------------------------------------------------------------------
# The pipeline decodes data frames straight into these typed structs (msgspec, in C):
# no intermediate dicts, types checked during parsing, levels as tuples of str (tuples
# of strings are untracked by the cyclic GC, lists never are). The fast path only
# *accepts* what decode() accepts and yields the same values; anything it is not sure
# about (a validation error, a missing field, an odd value) is handed to decode(), which
# then decides and names the error kind. So error kinds and edge cases stay defined in
# one place, above.

# orjson turns integers outside [-2**63, 2**64 - 1] into floats, which decode() rejects;
# msgspec would accept them as ints, so the fast path declines anything beyond int64
# (msgspec's bounds stop there; the rare uint64 values go to decode(), which takes them).
Int = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
# The columns' ranges (validate.py): outside them msgspec fails and decode() decides.
Int32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
UInt8 = Annotated[int, Meta(ge=0, le=255)]


# [price, size, deprecated "0", numOrders]: OKX always sends four; other lengths go to
# decode(), which only needs two.
Level = tuple[str, str, str, str]


class FastArg(Struct, gc=False):
    channel: str
    instId: str  # OKX field names, camelCase


class FastData(Struct, gc=False):
    """The union of the fields of books, trades and tickers pushes (others: decode()).

    UNSET marks fields where JSON null and a missing key mean different things to
    decode(): null then fails validation here and the frame goes to decode().
    """

    # books, books5, bbo-tbt, books-l2-tbt, books50-l2-tbt
    asks: tuple[Level, ...] = ()
    bids: tuple[Level, ...] = ()
    ts: str | Int | None = None
    checksum: Int32 = 0
    seqId: Int | None = None
    prevSeqId: Int | None = None
    # trades, trades-all
    instId: str | UnsetType = UNSET
    tradeId: str | None = None
    px: str | None = None
    sz: str | None = None
    side: str | None = None
    count: str | UInt32 | None = None
    source: str | UInt8 | None = None
    # tickers
    instType: str | UnsetType = UNSET
    last: str | None = None
    lastSz: str | None = None
    askPx: str | None = None
    askSz: str | None = None
    bidPx: str | None = None
    bidSz: str | None = None
    open24h: str | None = None
    high24h: str | None = None
    low24h: str | None = None
    volCcy24h: str | None = None
    vol24h: str | None = None


class FastFrame(Struct, gc=False):
    arg: FastArg | None = None
    action: str | None = None
    data: list[FastData] | None = None
    event: str | None = None


decode_fast = msgspec.json.Decoder(FastFrame).decode
FastDecodeError = msgspec.DecodeError  # ValidationError is a subclass

# Number strings that already matched _NUMBER: a set lookup (~20 ns) instead of the
# regex (~150 ns; a 25-level update has 50 of them). Prices and sizes repeat a lot;
# bounded by clearing when full. Kept small because each cached string can pin a
# 16 KiB allocator pool (pools stay in use, but RSS after a burst stays up: 3,500
# entries measured ~40 MB; 200,000 would be unbounded in practice).
NUMBERS: set[str] = set()
_NUMBERS_LIMIT = 8192
# numOrders strings that are UInt32 (validate.uint_text), remembered the same way.
COUNTS: set[str] = set()
# instIds that passed validate.inst_id_ok (bounded the same way; the C push reads it).
INST_IDS: set[str] = set()


def levels_ok(levels: tuple[Level, ...]) -> bool:
    """Price and size of every level match _NUMBER (as _levels() checks them).

    Common case in C: every string of every level is a number seen before. Otherwise
    level by level; numOrders and the deprecated field are remembered when they are
    numbers (so the C check hits next time) but never required to be.
    """
    if NUMBERS.issuperset(chain.from_iterable(levels)) and COUNTS.issuperset(
        [level[3] for level in levels]
    ):
        return True
    for px, sz, a, b in levels:
        if (px not in NUMBERS and not is_number(px)) or (sz not in NUMBERS and not is_number(sz)):
            return False
        if b not in COUNTS and not is_count(b):
            return False
        if a not in NUMBERS:
            is_number(a)
        if b not in NUMBERS:
            is_number(b)
    return True


def is_number(value: str) -> bool:
    """`_NUMBER.fullmatch`, remembered; callers test `value in NUMBERS` first."""
    if _NUMBER_MATCH(value) is None:
        return False
    if len(NUMBERS) >= _NUMBERS_LIMIT:
        NUMBERS.clear()
    NUMBERS.add(value)
    return True


def is_count(value: str) -> bool:
    """numOrders: validate.uint_text(UInt32), remembered; callers test COUNTS first."""
    if not uint_text(value, UINT32_MAX):
        return False
    if len(COUNTS) >= _NUMBERS_LIMIT:
        COUNTS.clear()
    COUNTS.add(value)
    return True


def known_inst_id(value: str) -> bool:
    """validate.inst_id_ok, remembered in INST_IDS (which the C push reads)."""
    if value in INST_IDS:
        return True
    if not inst_id_ok(value):
        return False
    if len(INST_IDS) >= _NUMBERS_LIMIT:
        INST_IDS.clear()
    INST_IDS.add(value)
    return True
