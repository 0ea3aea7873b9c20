"""The C loops (_speedups) against their Python twin (_levels), on the same random input.

Both must give the same book, the same checksum string, the same verdict on levels and
the same kind of error at the same level; the book logic above them (test_books.py,
the pipeline tests) then holds for both. `make unit` builds the C module; it runs the
ingestor's tests once more with OKX_INGESTOR_PURE_PYTHON=1 for the Python one.
"""

from __future__ import annotations

import gc
import os
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from okx_ingestor import _levels, speedups
from okx_ingestor.decoder import Level, is_number
from okx_ingestor.pipeline import Pipeline

try:
    from okx_ingestor import _speedups  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only on a build without a compiler
    _speedups = None

LevelsType = tuple[Level, ...]
needs_c = pytest.mark.skipif(_speedups is None, reason="the C extension is not built")


def same_price(a: str, b: str) -> bool:
    return Decimal(a) == Decimal(b)


def test_the_c_module_is_what_runs_in_development() -> None:
    """`pip install -e ingestor` builds it; a silent fallback would test Python twice."""
    expected = "python" if os.environ.get("OKX_INGESTOR_PURE_PYTHON") else "c"
    assert expected == speedups.IMPLEMENTATION


PRICES = ["100", "100.5", "100.50", "99.9", "1e2", "101", "0.0001", "250000.1", "7"]
ODD = ["abc", "", "nan", "inf", "-inf", "1_0", " 5 ", "١٢", "1e999", "-0", "0.000", "0e3"]


def random_level(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.03:
        return rng.choice([("1",), (), 5, None, [None, "1"], ["1", None]])
    px = rng.choice(ODD) if roll < 0.1 else rng.choice([*PRICES, f"{rng.randint(1, 400)}.5"])
    sz = rng.choice(["0", "0.0", "0e1", "-0"]) if rng.random() < 0.3 else str(rng.randint(1, 9))
    if rng.random() < 0.05:
        sz = rng.choice(ODD)
    level = [px, sz, "0", str(rng.randint(1, 5))]
    return tuple(level) if rng.random() < 0.5 else level


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """("ok", result) or (the error's class name, None)."""
    try:
        return "ok", fn(*args)
    except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
        return type(exc).__name__, None


@needs_c
@pytest.mark.parametrize("seed", range(40))
def test_side_apply_and_load_match(seed: int) -> None:
    rng = random.Random(seed)
    books = {"c": ([], {}), "py": ([], {})}
    impl = {"c": _speedups, "py": _levels}
    for step in range(60):
        levels = [random_level(rng) for _ in range(rng.randint(0, 12))]
        results = {}
        for name, (keys, book) in books.items():
            if step % 20 == 0:  # a snapshot now and then
                book.clear()
                results[name] = outcome(impl[name].side_load, book, levels, same_price)
                # as L2Book: the keys on success, a dropped (empty) side on error
                keys[:] = results[name][1] if results[name][0] == "ok" else []
                if results[name][0] != "ok":
                    book.clear()
            else:
                results[name] = outcome(impl[name].side_apply, keys, book, levels, same_price)
        assert results["c"] == results["py"], levels
        (ck, cb), (pk, pb) = books["c"], books["py"]
        assert ck == pk and cb == pb and ck == sorted(cb), levels
        for depth in (0, 1, 25):
            args = (ck, cb, ck, cb, depth)
            assert outcome(_speedups.checksum_payload, *args) == outcome(
                _levels.checksum_payload, *args
            )


@needs_c
def test_checksum_payload_matches_okx_checksum_layout() -> None:
    bids = {float(p): (p, s) for p, s in [("3", "1"), ("2", "2"), ("1", "3")]}
    asks = {float(p): (p, s) for p, s in [("4", "1")]}
    args = (sorted(bids), bids, sorted(asks), asks, 25)
    assert _speedups.checksum_payload(*args) == b"3:1:4:1:2:2:1:3"
    assert _levels.checksum_payload(*args) == b"3:1:4:1:2:2:1:3"
    assert _speedups.checksum_payload([], {}, [], {}, 25) == b""


@needs_c
@pytest.mark.parametrize("seed", range(20))
def test_levels_ok_matches(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        levels = [random_level(rng) for _ in range(rng.randint(0, 4))]
        assert outcome(_speedups.levels_ok, levels, is_number) == outcome(
            _levels.levels_ok, levels, is_number
        ), levels


@needs_c
def test_number_grammar_is_the_decoders() -> None:
    """The C grammar check against decoder.is_number (the regex) on tricky strings."""
    samples = ["1", "-1", "1.", ".5", "1.5", "1e5", "1E+5", "1e-5", "1e", "-", "--1", "1.5.5",
               "01", "1e5.5", "١٢", "1 ", "+1", "0x10", "1e+", "", "9" * 400]  # fmt: skip
    for s in samples:
        level = [(s, "1")]
        assert _speedups.levels_ok(level, is_number) == bool(is_number(s)), s


@needs_c
def test_untrack_levels_only_takes_atoms_out_of_the_gc() -> None:
    """Level tuples of strings leave the cyclic GC (as CPython's collector would do on
    its next pass); anything that could hold a cycle stays tracked."""
    levels = msgspec.json.decode(b'[["1.5","2","0","1"],["1.4","3","0","2"]]', type=LevelsType)
    assert gc.is_tracked(levels) and all(gc.is_tracked(level) for level in levels)
    _speedups.untrack_levels(levels)
    assert not gc.is_tracked(levels) and not any(gc.is_tracked(level) for level in levels)

    holder: list[object] = []
    mixed = (tuple(["1", "2"]), tuple(["1", holder]))  # the second could join a cycle
    _speedups.untrack_levels(mixed)
    assert not gc.is_tracked(mixed[0])
    assert gc.is_tracked(mixed[1]) and gc.is_tracked(mixed)
    as_list = [tuple(["1", "2"])]
    _speedups.untrack_levels(as_list)  # not a tuple: left alone
    assert gc.is_tracked(as_list[0])


def test_fast_path_leaves_book_levels_untracked() -> None:
    """What the pipeline relies on: a books push's level tuples are out of the GC after
    process() with the C loops (and still tracked, harmlessly, with the Python ones)."""
    frame = (
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":'
        '[["101","1","0","1"]],"bids":[["100","2","0","1"]],"ts":"1700000000000","checksum":0,'
        '"seqId":5,"prevSeqId":-1}]}'
    )
    rows: list[tuple[str, tuple[object, ...]]] = []
    gc.disable()  # no collection in between: it would untrack them on its own
    try:
        Pipeline(lambda table, row: rows.append((table, row))).process(frame)
    finally:
        gc.enable()
    book_row = next(row for table, row in rows if table.endswith("book_l2"))
    bids = book_row[7]
    assert isinstance(bids, tuple)
    assert gc.is_tracked(bids[0]) is (speedups.IMPLEMENTATION == "python")


@needs_c
@pytest.mark.parametrize("seed", range(10))
def test_book_sides_ok_matches_and_untracks_only_valid_sides(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        asks = tuple([random_level(rng) for _ in range(rng.randint(0, 3))])  # GC-tracked
        bids = tuple([random_level(rng) for _ in range(rng.randint(0, 3))])
        verdict = outcome(_speedups.book_sides_ok, asks, bids, is_number)
        assert verdict == outcome(_levels.book_sides_ok, asks, bids, is_number), (asks, bids)
        if verdict != ("ok", True):  # a rejected push is left as it was
            assert gc.is_tracked(asks) or not asks
        elif all(type(level) is tuple for level in asks + bids):
            assert not any(gc.is_tracked(side) for side in (asks, bids))
