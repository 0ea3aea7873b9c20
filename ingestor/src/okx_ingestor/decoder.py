"""Raw OKX v5 WebSocket text frame -> one typed message.

Prices and sizes stay the exact strings OKX sent (never float); exchange timestamps
become int milliseconds. Anything malformed raises DecodeError with a short `kind`
so callers can count it and log it once per kind.
"""

from __future__ import annotations

import re
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

from .schema import MAX_SECONDS, MIN_SECONDS
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
class OpenInterest:
    inst_type: str
    inst_id: str
    oi: str
    oi_ccy: str | None
    oi_usd: str | None
    ts: int


@dataclass(slots=True)
class PriceLimit:
    inst_type: str
    inst_id: str
    buy_lmt: str | None  # "" (None) when not enabled
    sell_lmt: str | None
    enabled: bool
    ts: int


@dataclass(slots=True)
class EstimatedPrice:
    inst_type: str
    inst_id: str
    settle_type: str
    settle_px: str
    ts: int


@dataclass(slots=True)
class Liquidation:
    """One entry of a liquidation-orders item's `details`."""

    side: str
    pos_side: str
    bk_px: str | None
    sz: str | None
    bk_loss: str | None
    ccy: str
    ts: int


@dataclass(slots=True)
class LiquidationOrders:
    inst_type: str
    inst_id: str
    inst_family: str
    details: list[Liquidation]
    ts: int  # the newest detail's (for the pipeline's last_exchange_ts)


@dataclass(slots=True)
class OptSummary:
    inst_id: str
    inst_family: str
    uly: str
    delta: str | None
    gamma: str | None
    vega: str | None
    theta: str | None
    delta_bs: str | None
    gamma_bs: str | None
    vega_bs: str | None
    theta_bs: str | None
    lever: str | None
    mark_vol: str | None
    bid_vol: str | None
    ask_vol: str | None
    real_vol: str | None
    vol_lv: str | None
    fwd_px: str | None
    ts: int


@dataclass(slots=True)
class Instrument:
    """An instruments push item: the fields hft_data.symbols keeps (as rest.instrument_row)."""

    row: tuple[object, ...]  # symbols columns without updated_at
    ts: int  # 0: no exchange time in this channel


@dataclass(slots=True)
class SystemStatus:
    title: str
    state: str
    begin: int | None
    end: int | None
    pre_open_begin: int | None
    href: str
    service_type: str
    system: str
    sche_desc: str
    maint_type: str
    env: str
    ts: int


@dataclass(slots=True)
class RecordsMsg:
    """tickers, funding-rate, mark-price, index-tickers, open-interest, ...: a list of
    typed records. `inst_id` is the value of the subscription's `arg_key`: the instId,
    or for the channels of scopes.ARG_KEYS the instType / instFamily ("" for status)."""

    channel: str
    inst_id: str
    records: list[Any]
    arg_key: str = "instId"


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
    if channel in SCOPED_CHANNELS:  # subscribed per instType / instFamily, or no arg
        return _scoped(channel, arg, obj["data"])
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
    records = [parser(d, inst_id) for d in data]
    inst_type = arg.get("instType")  # estimated-price: instType + instId
    if inst_type is not None and any(r.inst_type != inst_type for r in records):
        raise DecodeError("inst_type_mismatch", f"a push for {inst_type!r}"[:80])
    return RecordsMsg(channel, inst_id, records)


def _scoped(channel: str, arg: dict[str, Any], data: Any) -> RecordsMsg:
    """A push of a channel subscribed by instType / instFamily (or with no argument):
    its arg value must be well formed, each item is checked against it."""
    key = SCOPED_CHANNELS[channel]
    value = arg.get(key, "") if key else ""
    if type(data) is not list:
        raise DecodeError(f"bad_shape:{channel}", "data must be a list")
    if key and not inst_id_ok(value):
        raise DecodeError(f"bad_arg:{key}", repr(value)[:40])
    parser = _RECORD_PARSERS[channel]
    return RecordsMsg(channel, value, [parser(d, value) for d in data], key)


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


# -- issue 13: the other public channels ----------------------------------------------
# Shapes from the OKX v5 docs (2026-06-15 scrape, github:qiuham/crypto-api-docs,
# docs/okx/public/data/websocket-<channel>-channel.md, docs/okx/status/ws/status-channel.md).
_WORD = re.compile(r"[A-Za-z0-9_\-]{0,32}")


def _word(value: Any, field: str, allowed: frozenset[str] | None = None) -> str:
    """An enum or currency code: ASCII letters, digits, _ and -, at most 32 ("" allowed);
    `allowed`: one of these exactly."""
    if type(value) is str and _WORD.fullmatch(value) and (allowed is None or value in allowed):
        return value
    raise DecodeError(f"bad_value:{field}", repr(value)[:40])


def _opt_word(value: Any, field: str) -> str:
    return "" if value is None else _word(value, field)


def _text(value: Any, field: str, limit: int = 512) -> str:
    """Free text (a title, a link): a printable string of at most `limit` characters."""
    if value is None:
        return ""
    if type(value) is str and len(value) <= limit and value.isprintable():
        return value
    raise DecodeError(f"bad_value:{field}", repr(value)[:40])


def _opt_time(value: Any, field: str) -> int | None:
    """A date OKX schedules (listTime, expTime, maintenance begin/end): ms as an ASCII
    string, possibly years ahead, so only DateTime64's range applies, not the ts window."""
    if value is None or value == "":
        return None
    if type(value) is str and 0 < len(value) <= 13 and value.isascii() and value.isdigit():
        ms = int(value)
        if MIN_SECONDS * 1000 <= ms <= MAX_SECONDS * 1000:
            return ms
    raise DecodeError(f"bad_timestamp:{field}", repr(value)[:40])


def _same_type(d: dict[str, Any], inst_type: str | None) -> str:
    """A data item's instType: a word, and the subscription's when that names one."""
    own = _word(d.get("instType", inst_type or ""), "instType")
    if inst_type and own != inst_type:
        raise DecodeError("inst_type_mismatch", f"{own!r} in a push for {inst_type!r}"[:80])
    return own


def _item_inst_id(d: dict[str, Any]) -> str:
    """The instId of an item of a scoped push (no instId in its arg)."""
    inst_id = d["instId"]
    if not inst_id_ok(inst_id):
        raise DecodeError("bad_inst_id", repr(inst_id)[:40])
    return inst_id  # type: ignore[no-any-return]


def _open_interest(d: dict[str, Any], inst_id: str) -> OpenInterest:
    return OpenInterest(
        inst_type=_same_type(d, None),
        inst_id=_same_inst(d, inst_id),
        oi=_num(d["oi"], "oi"),
        oi_ccy=_opt_num(d.get("oiCcy"), "oiCcy"),
        oi_usd=_opt_num(d.get("oiUsd"), "oiUsd"),
        ts=_ms(d["ts"]),
    )


def _price_limit(d: dict[str, Any], inst_id: str) -> PriceLimit:
    """buyLmt / sellLmt are "" when `enabled` is false, numbers when it is true."""
    enabled = d.get("enabled", True)
    if type(enabled) is not bool:
        raise DecodeError("bad_value:enabled", repr(enabled)[:40])
    read = _num if enabled else _opt_num
    return PriceLimit(
        inst_type=_same_type(d, None),
        inst_id=_same_inst(d, inst_id),
        buy_lmt=read(d["buyLmt"], "buyLmt"),
        sell_lmt=read(d["sellLmt"], "sellLmt"),
        enabled=enabled,
        ts=_ms(d["ts"]),
    )


SETTLE_TYPES = frozenset({"settlement", "delivery", "exercise"})


def _estimated_price(d: dict[str, Any], inst_id: str) -> EstimatedPrice:
    return EstimatedPrice(
        inst_type=_same_type(d, None),
        inst_id=_same_inst(d, inst_id),
        settle_type=_word(d["settleType"], "settleType", SETTLE_TYPES),
        settle_px=_num(d["settlePx"], "settlePx"),
        ts=_ms(d["ts"]),
    )


_SIDES = frozenset({"buy", "sell", ""})  # "" : MARGIN/OPTION have no side
_POS_SIDES = frozenset({"long", "short", "net", ""})


def _liquidation_orders(d: dict[str, Any], inst_type: str) -> LiquidationOrders:
    raw = d["details"]
    if type(raw) is not list:
        raise DecodeError("bad_shape:liquidation-orders", "details must be a list")
    details = [
        Liquidation(
            side=_word(x.get("side", ""), "side", _SIDES),
            pos_side=_word(x.get("posSide", ""), "posSide", _POS_SIDES),
            bk_px=_opt_num(x.get("bkPx"), "bkPx"),
            sz=_opt_num(x.get("sz"), "sz"),
            bk_loss=_opt_num(x.get("bkLoss"), "bkLoss"),
            ccy=_opt_word(x.get("ccy"), "ccy"),
            ts=_ms(x["ts"]),
        )
        for x in raw
    ]
    family = d.get("instFamily") or d.get("uly") or ""
    if family and not inst_id_ok(family):
        raise DecodeError("bad_value:instFamily", repr(family)[:40])
    return LiquidationOrders(
        inst_type=_same_type(d, inst_type),
        inst_id=_item_inst_id(d),
        inst_family=family,
        details=details,
        ts=max((x.ts for x in details), default=0),
    )


def _opt_summary(d: dict[str, Any], family: str) -> OptSummary:
    """One option of the subscribed instFamily (its instId starts with the family)."""
    inst_id = _item_inst_id(d)
    if not inst_id.startswith(family + "-"):
        raise DecodeError("inst_family_mismatch", f"{inst_id!r} in a push for {family!r}"[:80])
    _same_type(d, "OPTION")
    s = _opt_signed
    return OptSummary(
        inst_id=inst_id,
        inst_family=family,
        uly=_opt_word(d.get("uly"), "uly"),
        delta=s(d.get("delta"), "delta"),
        gamma=s(d.get("gamma"), "gamma"),
        vega=s(d.get("vega"), "vega"),
        theta=s(d.get("theta"), "theta"),
        delta_bs=s(d.get("deltaBS"), "deltaBS"),
        gamma_bs=s(d.get("gammaBS"), "gammaBS"),
        vega_bs=s(d.get("vegaBS"), "vegaBS"),
        theta_bs=s(d.get("thetaBS"), "thetaBS"),
        lever=_opt_num(d.get("lever"), "lever"),
        mark_vol=_opt_num(d.get("markVol"), "markVol"),
        bid_vol=_opt_num(d.get("bidVol"), "bidVol"),
        ask_vol=_opt_num(d.get("askVol"), "askVol"),
        real_vol=_opt_num(d.get("realVol"), "realVol"),
        vol_lv=_opt_num(d.get("volLv"), "volLv"),
        fwd_px=_opt_num(d.get("fwdPx"), "fwdPx"),
        ts=_ms(d["ts"]),
    )


def _instrument(d: dict[str, Any], inst_type: str) -> Instrument:
    """An instruments push item -> the hft_data.symbols columns rest.instrument_row
    fills from GET /api/v5/public/instruments (the same entry shape), checked here."""
    family = _opt_word(d.get("instFamily"), "instFamily")
    code = d.get("instIdCode")
    row = (
        _item_inst_id(d), _same_type(d, inst_type), family, _opt_word(d.get("uly"), "uly"),
        _opt_word(d.get("baseCcy"), "baseCcy"), _opt_word(d.get("quoteCcy"), "quoteCcy"),
        _opt_word(d.get("settleCcy"), "settleCcy"), _opt_num(d.get("ctVal"), "ctVal"),
        _opt_num(d.get("ctMult"), "ctMult"), _opt_word(d.get("ctValCcy"), "ctValCcy"),
        _opt_word(d.get("ctType"), "ctType"), _num(d["tickSz"], "tickSz"),
        _num(d["lotSz"], "lotSz"), _num(d["minSz"], "minSz"), _word(d["state"], "state"),
        _opt_time(d.get("listTime"), "listTime"), _opt_time(d.get("expTime"), "expTime"),
        None if code == "" else _opt_int(code, "instIdCode"),
    )  # fmt: skip
    return Instrument(row, 0)


def _status(d: dict[str, Any], _: str) -> SystemStatus:
    return SystemStatus(
        title=_text(d.get("title"), "title"),
        state=_word(d["state"], "state"),
        begin=_opt_time(d.get("begin"), "begin"),
        end=_opt_time(d.get("end"), "end"),
        pre_open_begin=_opt_time(d.get("preOpenBegin"), "preOpenBegin"),
        href=_text(d.get("href"), "href"),
        service_type=_opt_word(d.get("serviceType"), "serviceType"),
        system=_opt_word(d.get("system"), "system"),
        sche_desc=_text(d.get("scheDesc"), "scheDesc"),
        maint_type=_opt_word(d.get("maintType"), "maintType"),
        env=_opt_word(d.get("env"), "env"),
        ts=_ms(d["ts"]),
    )


_RECORD_PARSERS: dict[str, Any] = {
    "tickers": _ticker,
    "funding-rate": _funding,
    "mark-price": _mark,
    "index-tickers": _index,
    "open-interest": _open_interest,
    "price-limit": _price_limit,
    "estimated-price": _estimated_price,
    "liquidation-orders": _liquidation_orders,
    "opt-summary": _opt_summary,
    "instruments": _instrument,
    "status": _status,
}
# Channels whose arg has no instId: the arg key that names the subscription ("" for
# status, which has none); scopes.py derives the subscribe args from it.
SCOPED_CHANNELS = {
    "liquidation-orders": "instType",
    "instruments": "instType",
    "opt-summary": "instFamily",
    "status": "",
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
