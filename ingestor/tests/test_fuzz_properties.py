"""Property fuzzing (hypothesis, derandomized: the same examples on every run): any one
field of a real or simulated push replaced by any JSON value. The pipeline never raises;
the push is either quarantined whole (one reason, no row, no book change) or taken; the
rows it lets through are storable; decode(), the Python fast path and the C push agree
on every example."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.schema import TABLES, row_to_json
from okx_ingestor.synth import MarketGenerator
from test_pipeline_fast import MODES, pipeline_mode

GEN = MarketGenerator(["ETH-USDT"], seed=3, depth=10)
SNAPSHOT = GEN.snapshot("ETH-USDT")
_INST = GEN.insts[0]
PUSHES = [GEN.book_update(_INST), GEN.trade(_INST), GEN.ticker(_INST)]
AFTER = [GEN.book_update(_INST), GEN.trade(_INST)]  # clean pushes after the mutant

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["1e5", "-1", "0", "\uff11\uff12", "9" * 25, "1." + "1" * 19, "", "BTC-USDT"]
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a push (data items, levels, arg fields)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _run(frames: list[str], mode: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, int]:
    rows: list[tuple[str, tuple[object, ...]]] = []
    with pipeline_mode(mode, monkeypatch):
        p = Pipeline(lambda t, r: rows.append((t, r)), inst_ids=["ETH-USDT"])
        deltas = []
        for i, frame in enumerate(frames):
            before = p.quarantine.total()
            p.process(frame, received_us=1_700_000_000_000_000 + i)
            deltas.append(p.quarantine.total() - before)
    for table, row in rows:  # whatever got through fits its columns
        row_to_json(TABLES[table.rpartition(".")[2]], row)
    assert all(d == 0 for i, d in enumerate(deltas) if i != 1), deltas
    return json.dumps(rows, default=str), json.dumps(p.summary(), sort_keys=True), deltas[1]


_SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=500, derandomize=True, deadline=None, suppress_health_check=_SLOW_OK)
@given(push=st.sampled_from(range(len(PUSHES))), pick=st.integers(min_value=0), value=json_values)
def test_any_field_any_value_never_crashes_and_all_paths_agree(
    push: int, pick: int, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = json.loads(PUSHES[push])
    paths = _paths(obj)
    path = paths[pick % len(paths)]
    _replace(obj, path, value)
    frames = [SNAPSHOT, json.dumps(obj), *AFTER]
    results = {mode: _run(frames, mode, monkeypatch) for mode in MODES}
    assert results["python"] == results["decode"] and results["c"] == results["decode"]
    rows, summary, quarantined = results["decode"]
    assert quarantined in (0, 1)
    if quarantined:  # quarantined whole: as if it never came ("pong": no row, no state)
        clean_rows, clean_summary, _ = _run([SNAPSHOT, "pong", *AFTER], "decode", monkeypatch)
        assert rows == clean_rows
        a, b = json.loads(summary), json.loads(clean_summary)
        for key in ("parse_errors", "parse_error_kinds", "quarantined"):
            a.pop(key), b.pop(key)
        assert a == b
