"""The order book's per-level loops in Python: the twin of the C module _speedups.

Same functions, signatures, results and errors (tests/test_speedups.py runs both on the
same random input). speedups.py imports the C module when it is built and this one
otherwise.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from math import isfinite

from .decoder import COUNTS, NUMBERS, is_count

SamePrice = Callable[[str, str], bool]


def levels_ok(levels: Sequence[Sequence[str]], fallback: Callable[[str], bool]) -> bool:
    """Price and size of every level are numbers (`fallback` decides strings not seen
    before: decoder.is_number, which remembers them in NUMBERS), and numOrders, when
    there, a UInt32 (validate.uint_text)."""
    numbers = NUMBERS
    for level in levels:
        n = len(level)
        if n < 2:
            return False
        px = level[0]
        sz = level[1]
        if (px not in numbers and not (type(px) is str and fallback(px))) or (
            sz not in numbers and not (type(sz) is str and fallback(sz))
        ):
            return False
        if (
            n > 3
            and (orders := level[3]) not in COUNTS
            and not (type(orders) is str and is_count(orders))
        ):
            return False  # numOrders, when there, must be a UInt32
    return True


def book_sides_ok(
    asks: Sequence[Sequence[str]], bids: Sequence[Sequence[str]], fallback: Callable[[str], bool]
) -> bool:
    """levels_ok() of both sides of a books push (the C twin also untracks them)."""
    return levels_ok(asks, fallback) and levels_ok(bids, fallback)


def _read(
    book: dict[float, Sequence[str]], level: Sequence[str], same_price: SamePrice
) -> tuple[float, Sequence[str] | None, bool]:
    if len(level) < 2:
        raise IndexError("a level needs a price and a size")
    px = level[0]
    sz = level[1]
    key = float(px)
    old = book.get(key)
    if old is not None and old[0] != px and not same_price(old[0], px):
        raise ValueError(f"prices {old[0]!r} and {px!r} collide as floats")
    return key, old, sz == "0" or float(sz) == 0.0


def side_apply(
    keys: list[float],
    book: dict[float, Sequence[str]],
    levels: Sequence[Sequence[str]],
    same_price: SamePrice,
) -> None:
    """Set or delete (size 0) every level of one side; `keys` stays sorted."""
    for level in levels:
        key, old, zero = _read(book, level, same_price)
        if zero:
            if old is not None:
                del book[key]
                del keys[bisect_left(keys, key)]
            continue
        if old is None:
            if not isfinite(key):
                raise ValueError(f"price {level[0]!r} is not finite")
            insort(keys, key)
        book[key] = level


def side_load(
    book: dict[float, Sequence[str]], levels: Sequence[Sequence[str]], same_price: SamePrice
) -> list[float]:
    """A whole snapshot into an empty side; returns the sorted keys (one sort, not one
    insertion per level)."""
    for level in levels:
        key, old, zero = _read(book, level, same_price)
        if zero:
            if old is not None:
                del book[key]
            continue
        if old is None and not isfinite(key):
            raise ValueError(f"price {level[0]!r} is not finite")
        book[key] = level
    return sorted(book)


def checksum_payload(
    bid_keys: list[float],
    bids: dict[float, Sequence[str]],
    ask_keys: list[float],
    asks: dict[float, Sequence[str]],
    depth: int,
) -> bytes:
    """OKX's checksum string of the best `depth` bids and asks (interleaved_payload)."""
    top_bids = [bids[k] for k in bid_keys[: -depth - 1 : -1]] if depth > 0 else []
    top_asks = [asks[k] for k in ask_keys[:depth]] if depth > 0 else []
    return interleaved_payload(top_bids, top_asks)


def interleaved_payload(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> bytes:
    """bid, ask, bid, ask ..., then the longer side's rest, `px:sz` joined by ':' (UTF-8);
    levels are (px, sz, ...) sequences, best first."""
    n = min(len(bids), len(asks))
    levels: list[Sequence[str]] = []
    for i in range(n):
        levels.append(bids[i])
        levels.append(asks[i])
    levels += bids[n:] or asks[n:]
    return ":".join(f"{level[0]}:{level[1]}" for level in levels).encode()


def untrack_levels(levels: Sequence[Sequence[str]]) -> None:
    """No-op: Python cannot untrack objects; CPython's collector does it on its own
    pass (the C twin does it as levels arrive, to make those passes cheaper)."""
