"""The pipeline's fast paths must be invisible: for any input, the rows and the summary
are exactly those of the decode() path they fall back to.

Three ways through the pipeline are compared: "decode" (decode() for everything),
"python" (the Python fast path: msgspec structs -> rows) and "c" (speedups.push, the C
version of the usual pushes, which declines to the Python fast path when unsure; the
same as "python" when the extension is not built)."""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from okx_ingestor import pipeline as pipeline_module
from okx_ingestor import speedups
from okx_ingestor.books import BookRegistry, BookState
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.rest import parse_books_response
from okx_ingestor.synth import MarketGenerator

INSTS = ["BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"]
MODES = ("decode", "python", "c")
Result = tuple[str, str, str]


class FixedClock:
    """The receive time of REST snapshot rows (process() is given one per message)."""

    def now_us(self) -> int:
        return 1_600_000_000_000_000


@contextmanager
def pipeline_mode(mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pipelines made inside take the MODES path: "c" as built, "python" without
    speedups.push, "decode" without any fast path."""
    with monkeypatch.context() as m:
        if mode != "c":
            m.setattr(pipeline_module, "push", None)
        if mode == "decode":
            m.setattr(pipeline_module, "_FAST_HANDLERS", {})
        yield


def run(messages: list[str], mode: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    """Rows, summary and the books' final levels as JSON (tuples and lists compare equal
    there, as in the sinks)."""
    with pipeline_mode(mode, monkeypatch):
        rows: list[object] = []
        p = Pipeline(lambda t, r: rows.append((t, r)), clock=FixedClock())  # type: ignore[arg-type]
        for i, raw in enumerate(messages):
            if raw.startswith("REST "):  # a REST /market/books snapshot for a buffering book
                _, inst, body = raw.split(" ", 2)
                book = p.books.get("books", inst)
                if book.state is BookState.BUFFERING:
                    p.rest_snapshot("books", inst, parse_books_response(body.encode()))
                continue
            p.process(raw, received_us=1_700_000_000_000_000 + i)
    books = {f"{c}/{i}": (b.state.value, b.last_seq_id, b.top(1000))
             for (c, i), b in sorted(p.books.books.items())}  # fmt: skip
    return json.dumps(rows), json.dumps(p.summary(), sort_keys=True), json.dumps(books)


def assert_same(messages: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = run(messages, "decode", monkeypatch)
    for mode in MODES[1:]:
        assert run(messages, mode, monkeypatch) == decoded, mode


def mixed_stream() -> list[str]:
    gen = MarketGenerator(INSTS, seed=5, depth=60)
    rng = random.Random(3)
    out = gen.snapshots()
    for _ in range(3000):
        inst = rng.choice(INSTS)
        r = rng.random()
        if r < 0.02:
            gen.inject_gap(inst)
        elif r < 0.04:
            gen.inject_reset(inst)
        elif r < 0.07:
            out.append(gen.heartbeat(inst))
        elif r < 0.08:
            out.append(gen.snapshot(inst))
        elif r < 0.09:
            out.append(rng.choice(["pong", '{"event":"error","code":"60012","msg":"x"}']))
        out.append(gen.next_message())
    return out


# Odd but often valid variants: each must give decode()'s answer, whichever path takes it.
VARIANTS = [
    ('"count":"1"', '"count":1'),
    ('"source":"0"', '"source":0'),
    ('"tickers"', '"index-tickers"'),
    (',"0","1"]', "]"),  # two-field levels
    ('"books"', '"books5"'),
    ('"books"', '"bbo-tbt"'),
    ('"trades"', '"trades-all"'),
    ('"0.1"', '"1e5"'),
    ('"5"', '"-5"'),
    ('"instType":"SPOT",', ""),
    ('"instType":"SPOT"', '"instType":null'),
    ('"action":"update",', ""),
    ('"action":"update"', '"action":5'),
    ('"seqId":', '"seqId":1e3,"x":'),
    ('"1"]', '"x"]'),
    ('"sell"', '"SELL"'),
    ("]]", '],["1.","2","0","1"]]'),
    ("]]", '],["\u0661\u0662","2","0","1"]]'),
    ('"tradeId":"', '"tradeId":"0'),
    ('"checksum":0', '"checksum":12345'),
    ('"checksum":0', '"checksum":true'),
    ('"ts":"', '"ts":"-'),
    ('"asks":[', '"asks":null,"a":['),
    ('"lastSz":"0.1"', '"lastSz":""'),
    ('"askPx":', '"askPx":"","b":'),
    ('"prevSeqId":', '"prevSeqId":99999999999999999999,"p":'),
    ('"ts":"', '"ts":"' + "1" * 5000),  # more digits than int() takes
    ('"tradeId":"', '"tradeId":"' + "1" * 5000),
]


def test_fast_path_matches_decode_path_on_mixed_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = mixed_stream()
    assert_same(messages, monkeypatch)


def test_fast_path_matches_decode_path_on_2022_recording(
    recording_2022: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = recording_2022 * 2
    assert_same(messages, monkeypatch)


@pytest.mark.parametrize(("old", "new"), VARIANTS)
def test_fast_path_matches_decode_path_on_variants(
    old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = mixed_stream()[:600]
    messages = base[:3] + [m.replace(old, new) for m in base[3:]]
    assert messages != base or old not in "".join(base)
    assert_same(messages, monkeypatch)


def test_fast_path_matches_decode_path_on_corrupted_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(11)
    base = mixed_stream()
    messages = base[:3]
    for raw in base[3:]:
        chars = list(raw)
        for _ in range(rng.randint(0, 2)):
            chars[rng.randrange(len(chars))] = rng.choice('{}[]":,0123456789.-e ')
        messages.append("".join(chars))
    assert_same(messages, monkeypatch)


def test_books_from_rest_snapshots_then_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Books that went live from a REST snapshot (levels as lists, not tuples), then
    take updates, gaps and more REST snapshots: the same in every mode."""
    gen = MarketGenerator(INSTS, seed=8, depth=40)
    rng = random.Random(4)
    messages: list[str] = []  # no WS snapshot: every book starts buffering
    for n in range(2500):
        inst = rng.choice(INSTS)
        if n % 300 == 10:
            gen.inject_gap(inst)
        if n % 50 == 5:
            body = json.dumps({"code": "0", "data": [gen.rest_book(inst)]})
            messages.append(f"REST {inst} {body}")
        messages.append(gen.next_message())
    assert_same(messages, monkeypatch)


def run_dropping_books(messages: list[str], mode: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    """run(), with an emit() that clears the book registry after every book_l2 update."""
    with pipeline_mode(mode, monkeypatch):
        rows: list[object] = []
        books = BookRegistry()

        def emit(table: str, row: tuple[object, ...]) -> None:
            rows.append((table, row))
            if table.endswith("book_l2") and row[2] == "update":
                books.books.clear()
                gc.collect()

        p = Pipeline(emit, books=books)
        for i, raw in enumerate(messages):
            p.process(raw, received_us=i)
    return json.dumps(rows), json.dumps(p.summary(), sort_keys=True), ""


def test_a_book_dropped_by_emit_during_its_own_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """emit() runs Python code; if it drops the book being updated (here: clears the
    registry), C must still hold it (it read freed memory before) and agree."""
    messages = MarketGenerator(INSTS, seed=2, depth=20).stream(300)
    results = [run_dropping_books(messages, mode, monkeypatch) for mode in MODES]
    assert results[0] == results[1] == results[2]


def test_books_trades_tickers_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above are only meaningful if the fast path is actually taken."""
    full_calls: list[str | bytes] = []
    original = Pipeline._process_full

    def counting(self: Pipeline, frame: str | bytes, received_us: int) -> object:
        full_calls.append(frame)
        return original(self, frame, received_us)

    monkeypatch.setattr(Pipeline, "_process_full", counting)
    gen = MarketGenerator(INSTS, seed=1, depth=50)
    messages = gen.stream(2000)
    p = Pipeline(lambda t, r: None)
    for raw in messages:
        p.process(raw)
    assert full_calls == []
    assert p.stats.data_messages == len(messages)


@pytest.mark.skipif(speedups.push is None, reason="speedups.push is not in use (pure Python)")
def test_c_handles_the_usual_pushes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C comparisons above are only meaningful if C handles the usual pushes: every
    books update, trade and ticker of a clean stream (not the WS snapshots)."""
    results: list[int] = []
    c_push = speedups.push
    assert c_push is not None

    def counting(*args: object) -> int:
        code = c_push(*args)  # type: ignore[arg-type]
        results.append(code)
        return code

    monkeypatch.setattr(pipeline_module, "push", counting)
    gen = MarketGenerator(INSTS, seed=1, depth=50)
    messages = gen.stream(2000)
    p = Pipeline(lambda t, r: None)
    for raw in messages:
        p.process(raw)
    assert results.count(1) == len(messages) - len(INSTS)  # all but the 3 snapshots
    assert p.stats.data_messages == len(messages)
