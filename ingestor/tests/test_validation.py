"""Every field is checked at the boundary (type, ASCII, range) before it enters a book or
a row; a bad one quarantines that one message, with its reason, on every path (decode(),
the Python fast path and the C push), and the stream goes on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from okx_ingestor import validate
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.quarantine import Quarantine
from okx_ingestor.schema import TABLES, format_ms, row_to_json
from test_pipeline_fast import MODES, pipeline_mode

TS = "1700000000000"


def trade(**fields: object) -> str:
    d: dict[str, object] = {"instId": "BTC-USDT", "tradeId": "1", "px": "42219.9",
                            "sz": "0.12", "side": "buy", "ts": TS, "count": "3"}  # fmt: skip
    d.update(fields)
    return json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [d]})


def books(action: str = "update", **fields: object) -> str:
    d: dict[str, object] = {"asks": [["101", "1", "0", "1"]], "bids": [["100", "2", "0", "3"]],
                            "ts": TS, "checksum": 0, "seqId": 11, "prevSeqId": 10}  # fmt: skip
    d.update(fields)
    return json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action,
                       "data": [d]})  # fmt: skip


def ticker(**fields: object) -> str:
    d: dict[str, object] = {"instType": "SPOT", "instId": "BTC-USDT", "last": "42000.1",
                            "lastSz": "0.1", "askPx": "42000.2", "ts": TS}  # fmt: skip
    d.update(fields)
    return json.dumps({"arg": {"channel": "tickers", "instId": "BTC-USDT"}, "data": [d]})


def bbo(**fields: object) -> str:
    d: dict[str, object] = {"asks": [["101", "1", "0", "1"]], "bids": [["100", "2", "0", "3"]],
                            "ts": TS, "seqId": 5}  # fmt: skip
    d.update(fields)
    return json.dumps({"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"}, "data": [d]})


SNAPSHOT = books("snapshot", seqId=10, prevSeqId=-1)
BAD = [
    (trade(tradeId=str(2**64)), "bad_trade_id"),
    (trade(tradeId="\uff11\uff12\uff13"), "bad_trade_id"),
    (trade(ts=str(2**70)), "bad_timestamp:ts"),
    (trade(ts="0"), "bad_timestamp:ts"),
    (trade(ts="\uff11\uff17" + "\uff10" * 11), "bad_timestamp:ts"),
    (trade(count=str(2**64 + 1)), "bad_integer:count"),
    (trade(count=2**40), "bad_integer:count"),
    (trade(source="256"), "bad_integer:source"),
    (trade(px="\uff11\uff12\uff13"), "bad_number:px"),
    (trade(px="1e5"), "bad_number:px"),
    (trade(px="-1"), "bad_number:px"),
    (trade(sz="1" * 21), "bad_number:sz"),
    (trade(sz="0." + "1" * 19), "bad_number:sz"),
    (trade(instId="ETH-USDT"), "inst_id_mismatch"),
    (books(asks=[["101", "1", "0", str(2**64 + 7)]]), "bad_levels:asks"),
    (books(bids=[["100", "2", "0", "\uff11"]]), "bad_levels:bids"),
    (books(asks=[["1e2", "1", "0", "1"]]), "bad_levels:asks"),
    (books(ts=str(2**64 * 10)), "bad_timestamp:ts"),
    (books(checksum=2**40), "bad_integer:checksum"),
    (books(seqId=2**63), "bad_integer:seqId"),
    (books(instId="ETH-USDT"), "inst_id_mismatch"),
    (ticker(ts="0"), "bad_timestamp:ts"),
    (ticker(instId="ETH-USDT"), "inst_id_mismatch"),
    (ticker(last="\uff11"), "bad_number:last"),
    (bbo(ts="12"), "bad_timestamp:ts"),
    (bbo(asks=[["101", "1", "0", "99999999999"]]), "bad_levels:asks"),
    (json.dumps({"arg": {"channel": "trades", "instId": "BTC USDT\u00e9"}, "data": []}),
     "bad_inst_id"),
]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("frame", "reason"), BAD)
def test_a_bad_field_quarantines_that_message_only(
    frame: str, reason: str, mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    q = Quarantine(tmp_path / "quarantine.jsonl")
    rows: list[tuple[str, tuple[object, ...]]] = []
    with pipeline_mode(mode, monkeypatch):
        p = Pipeline(lambda t, r: rows.append((t, r)), quarantine=q)
        p.process(SNAPSHOT)  # a live book, and BTC-USDT known: C takes what it can
        p.process(trade(tradeId="7"))
        p.process(frame)
        p.process(trade(tradeId="8"))
        p.process(books(seqId=12, prevSeqId=11) if "books" in frame else trade(tradeId="9"))
    assert p.summary()["quarantined"] == {reason: 1}
    trades = [r[1] for t, r in rows if t.endswith("raw_ticks")]
    assert trades[:2] == [7, 8]
    for table, row in rows:  # every row that got through is storable
        spec = TABLES[table.rpartition(".")[2]]
        row_to_json(spec, row)
    (line,) = (tmp_path / "quarantine.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["reason"] == reason and record["frame"] == frame


@pytest.mark.parametrize("mode", MODES)
def test_timestamps_live_within_a_day_ahead_and_old_recordings_replay(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time_ns() // 1_000_000
    rows: list[tuple[str, tuple[object, ...]]] = []
    with pipeline_mode(mode, monkeypatch):
        p = Pipeline(lambda t, r: rows.append((t, r)))
        for i, ts in enumerate([now + 3_600_000, 1_497_000_000_000, now + 2 * 86_400_000]):
            p.process(trade(tradeId=str(i + 1), ts=str(ts)))
    assert [r[1] for _, r in rows] == [1, 2]  # an hour ahead and 2017 pass
    assert p.summary()["quarantined"] == {"bad_timestamp:ts": 1}


def test_timestamp_window_is_configurable() -> None:
    try:
        validate.configure(validate.parse_ts_min("2023-01-01"), 0)
        assert not validate.ts_ok(1_672_531_199_999) and validate.ts_ok(1_672_531_200_000)
        assert not validate.ts_ok(time.time_ns() // 1_000_000 + 60_000)
    finally:
        validate.configure()
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        validate.parse_ts_min("2023/01/01")


def test_funding_rates_may_be_negative_other_numbers_not() -> None:
    rows: list[tuple[str, tuple[object, ...]]] = []
    p = Pipeline(lambda t, r: rows.append((t, r)))
    data = {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "fundingRate": "-0.0001",
            "fundingTime": TS, "premium": "-0.0002", "ts": TS}  # fmt: skip
    arg = {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"}
    p.process(json.dumps({"arg": arg, "data": [data]}))
    p.process(json.dumps({"arg": arg, "data": [{**data, "fundingRate": "-1e-4"}]}))
    assert len(rows) == 1 and rows[0][1][3] == "-0.0001"
    assert p.summary()["quarantined"] == {"bad_number:fundingRate": 1}


def test_format_ms_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="DateTime64"):
        format_ms(2**70)
    assert format_ms(1_700_000_000_123) == "2023-11-14 22:13:20.123"


def _push(channel: str, inst: str, **fields: object) -> str:
    """A push whose arg and data both name `inst` (well-formed, so only the subscription
    can tell it apart)."""
    frame = {"trades": trade, "books": books, "tickers": ticker}[channel](instId=inst, **fields)
    obj = json.loads(frame)
    obj["arg"]["instId"] = inst
    return json.dumps(obj)


@pytest.mark.parametrize("mode", MODES)
def test_issue13_item8_a_push_for_an_instid_not_subscribed_is_quarantined(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 8: garbage Redis keys came from pushes whose instId nobody subscribed
    to. With the subscription given (the service always gives it), such a push - on
    every fast path and decode() - is quarantined before any book, row or Redis key."""
    rows: list[tuple[str, tuple[object, ...]]] = []
    with pipeline_mode(mode, monkeypatch):
        p = Pipeline(lambda t, r: rows.append((t, r)), inst_ids=["BTC-USDT"])
        p.process(SNAPSHOT)
        p.process(trade(tradeId="7"))
        for channel in ("trades", "books", "tickers", "trades"):
            p.process(_push(channel, "GARBAGE-KEY"))
        p.process(_push("books", "GARBAGE-KEY", action="snapshot", seqId=1, prevSeqId=-1))
        p.process(trade(tradeId="8"))
        p.process(books(seqId=11, prevSeqId=10))
    assert p.summary()["quarantined"] == {"unsubscribed_inst_id": 5}
    assert {r[0] for _, r in rows} == {"BTC-USDT"}
    assert [r[1] for t, r in rows if t.endswith("raw_ticks")] == [7, 8]
    assert set(p.books.books) == {("books", "BTC-USDT")}
    assert ("trades", "GARBAGE-KEY") not in p.stats.by_stream


def test_without_a_subscription_any_well_formed_instid_passes() -> None:
    rows: list[tuple[str, tuple[object, ...]]] = []
    p = Pipeline(lambda t, r: rows.append((t, r)))  # replay without --inst-ids
    p.process(_push("trades", "ETH-USDT"))
    assert [r[0] for _, r in rows] == ["ETH-USDT"] and not p.summary()["quarantined"]


@pytest.mark.parametrize(
    "frame",
    ['{"event":"subscribe","arg":"x"}', '{"event":"error","code":{"a":1}}',
     '{"event":"subscribe","arg":["trades"]}', '{"event":"' + "x" * 100 + '"}'],
)  # fmt: skip
def test_an_event_of_a_shape_okx_never_sends_is_quarantined(frame: str) -> None:
    p = Pipeline(lambda t, r: None)
    p.process(frame)
    p.process('{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"}}')
    p.process('{"event":"error","code":"60012","msg":"x"}')
    assert p.summary()["quarantined"] == {"bad_shape:event": 1}
    assert p.summary()["events"] == {"error": 1, "subscribe": 1}
