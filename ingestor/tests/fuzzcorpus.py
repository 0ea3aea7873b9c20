"""A reproducible fuzz corpus: real (2022 recording) and simulated frames, with mutated
copies in every class of issue 13, each mutation certain to be invalid.

`build_corpus()` interleaves the clean frames (in their order) with mutated copies
(inserted before the frame they were made from), so the clean frames alone are the
reference: every row they produce must be stored whatever the mutants do, and every
mutant must be quarantined exactly once. Seeded: the same corpus on every run and path.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from okx_ingestor.synth import MarketGenerator

# Instruments of the simulated frames: distinct from the 2022 recording's (BTC-USDT,
# BTC-USD-220527, UNI-USD-SWAP), so the two streams never share a book.
SIM_INSTS = ["ETH-USDT", "SOL-USDT", "ETH-USDT-SWAP"]
RECORDING_INSTS = ["BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"]
SUBSCRIBED = SIM_INSTS + RECORDING_INSTS
UNSUBSCRIBED = "DOGE-USDT"  # a real instrument the corpus never subscribes to
CHANNELS = ["trades", "books", "tickers"]

CLASSES = (
    "huge_int",  # tradeId, count, numOrders, seqId beyond their columns (2^64 and more)
    "huge_ts",  # ts with 14..40 digits, or in year 2286
    "unicode_digits",  # fullwidth / Arabic-Indic digits in numbers, ids and ts
    "exponent",  # 1e5, 2.5E-3
    "negative",  # -1.5 prices, -1 ids
    "too_many_digits",  # > 20 integer or > 18 fractional digits
    "ts_zero",  # ts "0", 0, ""
    "binary",  # a binary frame: bytes that are no UTF-8 JSON
    "odd_event",  # {"event":"subscribe","arg":"x"} and kin
    "wrong_inst_id",  # data[].instId not arg.instId, a garbage or an unsubscribed instId
    "missing_field",  # a required field removed
    "wrong_type",  # numbers as JSON numbers, lists as strings, ...
    "truncated",  # a prefix of the frame
)

_HUGE = [
    "18446744073709551616",
    "99999999999999999999999",
    "340282366920938463463374607431768211456",
]
# fullwidth 123, Arabic-Indic 123.5, fullwidth 1.5, Arabic-Indic 3, mathematical bold 12
_UNICODE = ["\uff11\uff12\uff13", "\u0661\u0662\u0663.\u0665", "\uff11.\uff15", "\u0663",
            "\U0001d7cf\U0001d7d0"]  # fmt: skip
_UNICODE_TS = "\uff11\uff17" + "\uff10" * 11  # 1700000000000 in fullwidth digits
_EXPONENT = ["1e5", "2.5E-3", "1E+2", "3e0"]
_TOO_LONG = ["1" * 21, "1." + "1" * 19, "9" * 25 + ".5", "0." + "0" * 30 + "1"]
_HUGE_TS = ["9" * 20, "99999999999999", "9999999999999", "1" * 40]
_ODD_EVENTS = [
    '{"event":"subscribe","arg":"x"}',
    '{"event":5}',
    '{"event":null,"arg":{"channel":"trades"}}',
    '{"event":"subscribe","arg":["trades","ETH-USDT"]}',
    '{"event":"error","code":{"a":1},"msg":"x"}',
    '{"event":"error","code":[60012]}',
    '{"event":"notice","code":1.5e40}',
    '{"event":"' + "x" * 100 + '"}',
    '["event","subscribe"]',
    '"event"',
]


@dataclass
class Corpus:
    frames: list[str | bytes]  # everything, in the order it is fed
    clean: list[str]  # the clean frames alone, in the same order
    mutants: list[tuple[str, str | bytes]]  # (class, frame), in feed order
    per_class: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, object]:
        by_class = dict(sorted(self.per_class.items()))
        return {"frames": len(self.frames), "clean": len(self.clean),
                "mutated": len(self.mutants), "mutated_by_class": by_class}  # fmt: skip


def simulated_frames(n: int, seed: int = 11) -> list[str]:
    """Snapshots, then `n` books updates, trades and tickers (fixed timestamps)."""
    gen = MarketGenerator(SIM_INSTS, seed=seed, depth=30)
    return gen.stream(n)


def build_corpus(
    recording: list[str], n_simulated: int, mutate_ratio: float = 0.3, seed: int = 13
) -> Corpus:
    """Data frames of the recording and the simulator, merged (each in its order), with a
    mutated copy before a frame with probability `mutate_ratio` (classes in turn)."""
    rng = random.Random(seed)
    real = [f for f in recording if '"event"' not in f[:20]]  # the client's acks stay out
    sim = simulated_frames(n_simulated, seed)
    clean: list[str] = []
    i = j = 0
    while i < len(real) or j < len(sim):  # a random merge that keeps each stream's order
        take_real = j >= len(sim) or (
            i < len(real) and rng.random() < len(real) / (len(real) + len(sim))
        )
        if take_real:
            clean.append(real[i])
            i += 1
        else:
            clean.append(sim[j])
            j += 1
    corpus = Corpus([], clean, [])
    turn = 0
    for frame in clean:
        if rng.random() < mutate_ratio:
            kind = CLASSES[turn % len(CLASSES)]
            turn += 1
            mutant = mutate(rng, kind, frame)
            corpus.frames.append(mutant)
            corpus.mutants.append((kind, mutant))
            corpus.per_class[kind] += 1
        corpus.frames.append(frame)
    return corpus


# -- mutations: each returns a frame that no valid reading accepts ------------------------
def mutate(rng: random.Random, kind: str, frame: str) -> str | bytes:
    if kind == "truncated":
        return frame[: rng.randrange(1, len(frame) - 1)]
    if kind == "binary":
        return _binary(rng, frame)
    if kind == "odd_event":
        return rng.choice(_ODD_EVENTS)
    obj = json.loads(frame)
    _MUTATORS[kind](rng, obj)
    return json.dumps(obj, ensure_ascii=rng.random() < 0.5, separators=(",", ":"))


def _binary(rng: random.Random, frame: str) -> bytes:
    """Bytes a text reading cannot take: invalid UTF-8 and no JSON (never a newline, so a
    replay file keeps one frame per line)."""
    choice = rng.randrange(3)
    if choice == 0:
        body = bytes(rng.choice(range(0x80, 0x100)) for _ in range(rng.randint(1, 64)))
    elif choice == 1:  # a compressed-looking blob: deflate magic, then noise
        body = b"\x78\x9c" + bytes(rng.randrange(256) for _ in range(rng.randint(8, 200)))
    else:  # the frame's own bytes with an invalid UTF-8 byte inside a string
        raw = frame.encode()
        cut = raw.index(b'"', 2) + 1
        body = raw[:cut] + b"\xff\xfe" + raw[cut:]
    return body.replace(b"\n", b"\x80").replace(b"\r", b"\x80")


def _item(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["data"][0]  # type: ignore[no-any-return]


def _channel(obj: dict[str, Any]) -> str:
    return str(obj["arg"]["channel"])


def _number_field(
    rng: random.Random, obj: dict[str, Any]
) -> tuple[dict[str, Any] | list[Any], Any]:
    """(container, key) of a price or size the mutation replaces."""
    d = _item(obj)
    channel = _channel(obj)
    if channel == "trades":
        return d, rng.choice(["px", "sz"])
    if channel == "tickers":
        return d, rng.choice(["last", "lastSz", "bidPx", "askSz", "vol24h"])
    side = [s for s in ("asks", "bids") if d.get(s)]
    if not side:  # a heartbeat: no level to spoil; the timestamp then
        return d, "ts"
    level = rng.choice(d[rng.choice(side)])
    return level, rng.randrange(2)


def _set_number(values: list[str]) -> Callable[[random.Random, dict[str, Any]], None]:
    def mutate_number(rng: random.Random, obj: dict[str, Any]) -> None:
        where, key = _number_field(rng, obj)
        where[key] = rng.choice(values if key != "ts" else _HUGE_TS)

    return mutate_number


def _huge_int(rng: random.Random, obj: dict[str, Any]) -> None:
    d = _item(obj)
    channel = _channel(obj)
    if channel == "trades":
        key = rng.choice(["tradeId", "count", "tradeId"])
        d[key] = rng.choice(_HUGE) if key == "tradeId" else "4294967296"
    elif channel == "books":
        if rng.random() < 0.5 and (d.get("asks") or d.get("bids")):
            level = (d.get("asks") or d.get("bids"))[0]
            level[3] = rng.choice(["4294967296", *_HUGE])
        else:
            d["seqId"] = rng.choice([2**63, 2**64 + 1, 10**30])
    else:
        d["ts"] = rng.choice(_HUGE)


def _huge_ts(rng: random.Random, obj: dict[str, Any]) -> None:
    value: Any = rng.choice(_HUGE_TS)
    _item(obj)["ts"] = int(value) if rng.random() < 0.3 else value


def _unicode(rng: random.Random, obj: dict[str, Any]) -> None:
    r = rng.random()
    if r < 0.2:
        _item(obj)["ts"] = _UNICODE_TS
    elif r < 0.35 and _channel(obj) == "trades":
        _item(obj)["tradeId"] = rng.choice(_UNICODE)
    else:
        where, key = _number_field(rng, obj)
        where[key] = rng.choice(_UNICODE)


def _negative(rng: random.Random, obj: dict[str, Any]) -> None:
    d = _item(obj)
    if _channel(obj) == "trades" and rng.random() < 0.4:
        d[rng.choice(["tradeId", "count"])] = "-1"
        return
    where, key = _number_field(rng, obj)
    where[key] = "-1.5" if key != "ts" else "-1700000000000"


def _ts_zero(rng: random.Random, obj: dict[str, Any]) -> None:
    _item(obj)["ts"] = rng.choice(["0", 0, "", "00000"])


def _wrong_inst_id(rng: random.Random, obj: dict[str, Any]) -> None:
    own = obj["arg"]["instId"]
    r = rng.random()
    if r < 0.25:  # well-formed and consistent, but not subscribed (issue 13 item 8)
        obj["arg"]["instId"] = UNSUBSCRIBED
        for d in obj["data"]:
            if "instId" in d:
                d["instId"] = UNSUBSCRIBED
    elif r < 0.6:
        others = [i for i in SIM_INSTS + RECORDING_INSTS if i != own]
        _item(obj)["instId"] = rng.choice([*others, "", own + "x", own.lower()])
    else:
        obj["arg"]["instId"] = rng.choice(
            ["\uff25TH-USDT", "", "-x", "x" * 100, "ETH USDT", 42, None]
        )


_REQUIRED = {
    "trades": ["tradeId", "px", "sz", "side", "ts"],
    "books": ["ts"],
    "tickers": ["ts", "last", "lastSz"],
}


def _missing_field(rng: random.Random, obj: dict[str, Any]) -> None:
    r = rng.random()
    if r < 0.15:
        del obj["data"]
    elif r < 0.25:
        del obj["arg"][rng.choice(["channel", "instId"])]
    else:
        del _item(obj)[rng.choice(_REQUIRED[_channel(obj)])]


def _wrong_type(rng: random.Random, obj: dict[str, Any]) -> None:
    d = _item(obj)
    r = rng.random()
    if r < 0.1:
        obj["data"] = d  # an object, not a list
    elif r < 0.2:
        d["ts"] = rng.choice([[1], {"ms": 1}, True, 1.7e12])
    elif r < 0.3 and _channel(obj) == "books":
        d[rng.choice(["asks", "bids"])] = "1.5,2"
    elif r < 0.4 and _channel(obj) == "trades":
        d["side"] = rng.choice(["BUY", "", 1, None])
    else:
        where, key = _number_field(rng, obj)
        value = where[key]
        where[key] = rng.choice([float(value) if _is_float(value) else 1.5, True, [value]])


def _is_float(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


_MUTATORS: dict[str, Callable[[random.Random, dict[str, Any]], None]] = {
    "huge_int": _huge_int,
    "huge_ts": _huge_ts,
    "unicode_digits": _unicode,
    "exponent": _set_number(_EXPONENT),
    "negative": _negative,
    "too_many_digits": _set_number(_TOO_LONG),
    "ts_zero": _ts_zero,
    "wrong_inst_id": _wrong_inst_id,
    "missing_field": _missing_field,
    "wrong_type": _wrong_type,
}
