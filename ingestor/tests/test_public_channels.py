"""Issue 13: open-interest, price-limit, estimated-price, liquidation-orders, opt-summary,
instruments and status. Each documented push example (OKX v5 docs, 2026-06-15 scrape in
github:qiuham/crypto-api-docs: docs/okx/public/data/websocket-<channel>-channel.md and
docs/okx/status/ws/status-channel.md) -> the exact row stored in chdb with files/sql
applied; a bad field of each kind -> that message quarantined with its reason, on every
pipeline path (these channels always take decode(); the C push declines them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.config import parse_config
from okx_ingestor.pipeline import Pipeline
from okx_ingestor.quarantine import Quarantine
from okx_ingestor.rest import parse_instruments_response
from test_pipeline_fast import MODES, pipeline_mode

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "files" / "sql"
ENGINE = ROOT / "plugins" / "module_utils"
RECORDED = ROOT.parent / "shared" / "data" / "okx-recorded-2022" / "OKX.0"
RX = 1_700_000_000_000_000  # received_at (µs)

# The docs' push examples, verbatim but for whitespace.
OPEN_INTEREST = {"arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}, "data": [{
    "instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": "2216113.01000000309",
    "oiCcy": "22161.1301000000309", "oiUsd": "1939251795.54769270396321",
    "ts": "1743041250440"}]}  # fmt: skip
PRICE_LIMIT = {"arg": {"channel": "price-limit", "instId": "LTC-USD-190628"}, "data": [{
    "instId": "LTC-USD-190628", "buyLmt": "200", "sellLmt": "300", "ts": "1597026383085",
    "enabled": True}]}  # fmt: skip
ESTIMATED = {"arg": {"channel": "estimated-price", "instType": "FUTURES",
                     "instFamily": "XRP-USDT"}, "data": [{
    "instId": "XRP-USDT-250307", "instType": "FUTURES", "settlePx": "2.4230631578947368",
    "settleType": "settlement", "ts": "1741244598708"}]}  # fmt: skip
# This ingestor subscribes estimated-price by instType + instId (scopes.py), so the arg
# it receives names the instId; the data item is the docs' one.
ESTIMATED_BY_ID = {**ESTIMATED, "arg": {"channel": "estimated-price", "instType": "FUTURES",
                                         "instId": "XRP-USDT-250307"}}  # fmt: skip
LIQUIDATION = {"id": "1512", "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
               "data": [{"details": [{"bkLoss": "0", "bkPx": "0.007831", "ccy": "",
                                      "posSide": "short", "side": "buy", "sz": "13",
                                      "ts": "1692266434010"}],
                         "instFamily": "IOST-USDT", "instId": "IOST-USDT-SWAP",
                         "instType": "SWAP", "uly": "IOST-USDT"}]}  # fmt: skip
OPT_SUMMARY = {"arg": {"channel": "opt-summary", "instFamily": "BTC-USD"}, "data": [{
    "instType": "OPTION", "instId": "BTC-USD-241013-70000-P", "uly": "BTC-USD",
    "delta": "-1.1180902625", "gamma": "2.2361957091", "vega": "0.0000000001",
    "theta": "0.0000032334", "lever": "8.465747567", "markVol": "0.3675503331",
    "bidVol": "0", "askVol": "1.1669998535", "realVol": "", "deltaBS": "-0.9999672034",
    "gammaBS": "0.0000000002", "thetaBS": "28.2649858387", "vegaBS": "0.0000114332",
    "ts": "1728703155650", "fwdPx": "62604.6993093463", "volLv": "0.2044711229"}]}  # fmt: skip
INSTRUMENT = {"arg": {"channel": "instruments", "instType": "SPOT"}, "data": [{
    "alias": "", "auctionEndTime": "", "baseCcy": "BTC", "category": "1", "ctMult": "",
    "ctType": "", "ctVal": "", "ctValCcy": "", "contTdSwTime": "1704876947000",
    "expTime": "", "futureSettlement": False, "groupId": "1", "instFamily": "",
    "instId": "BTC-USDT", "instType": "SPOT", "lever": "10", "listTime": "1606468572000",
    "lotSz": "0.00000001", "maxIcebergSz": "9999999999.0000000000000000",
    "maxLmtAmt": "1000000", "maxLmtSz": "9999999999", "maxMktAmt": "1000000",
    "maxMktSz": "", "maxStopSz": "", "maxTriggerSz": "9999999999.0000000000000000",
    "maxTwapSz": "9999999999.0000000000000000", "minSz": "0.00001", "optType": "",
    "openType": "call_auction", "preMktSwTime": "", "quoteCcy": "USDT", "settleCcy": "",
    "state": "live", "ruleType": "normal", "stk": "", "tickSz": "0.1", "uly": "",
    "instIdCode": 1000000000, "instCategory": "1",
    "upcChg": [{"param": "tickSz", "newValue": "0.0001",
                "effTime": "1704876947000"}]}]}  # fmt: skip
STATUS = {"arg": {"channel": "status"}, "data": [{
    "begin": "1672823400000", "end": "1672825980000", "href": "", "preOpenBegin": "",
    "scheDesc": "", "serviceType": "0", "state": "completed", "system": "unified",
    "maintType": "1", "env": "1", "title": "Trading account WebSocket system upgrade",
    "ts": "1672826038470"}]}  # fmt: skip

# (push, table, SELECT of the stored row, the row as ClickHouse returns it)
STORED = [
    (OPEN_INTEREST, "open_interest",
     "inst_id, inst_type, toString(ts), toString(oi), toString(oi_ccy), toString(oi_usd)",
     ["BTC-USDT-SWAP", "SWAP", "2025-03-27 02:07:30.440", "2216113.01000000309",
      "22161.1301000000309", "1939251795.54769270396321"]),
    (PRICE_LIMIT, "price_limits",
     "inst_id, inst_type, toString(ts), toString(buy_lmt), toString(sell_lmt), enabled",
     ["LTC-USD-190628", "", "2020-08-10 02:26:23.085", "200", "300", "1"]),
    (ESTIMATED_BY_ID, "estimated_prices",
     "inst_id, inst_type, toString(ts), settle_type, toString(settle_px)",
     ["XRP-USDT-250307", "FUTURES", "2025-03-06 07:03:18.708", "settlement",
      "2.4230631578947368"]),
    (LIQUIDATION, "liquidations",
     "inst_id, inst_type, inst_family, toString(ts), side, pos_side, toString(bk_px), "
     "toString(sz), toString(bk_loss), ccy",
     ["IOST-USDT-SWAP", "SWAP", "IOST-USDT", "2023-08-17 10:00:34.010", "buy", "short",
      "0.007831", "13", "0", ""]),
    (OPT_SUMMARY, "option_summaries",
     "inst_id, inst_family, uly, toString(ts), toString(delta), toString(gamma), "
     "toString(vega), toString(theta), toString(delta_bs), toString(theta_bs), "
     "toString(mark_vol), toString(bid_vol), toString(real_vol), toString(fwd_px)",
     ["BTC-USD-241013-70000-P", "BTC-USD", "BTC-USD", "2024-10-12 03:19:15.650",
      "-1.1180902625", "2.2361957091", "0.0000000001", "0.0000032334", "-0.9999672034",
      "28.2649858387", "0.3675503331", "0", "\\N", "62604.6993093463"]),
    (INSTRUMENT, "symbols",
     "inst_id, inst_type, base_ccy, quote_ccy, toString(tick_sz), toString(lot_sz), "
     "toString(min_sz), state, toString(list_time), toString(exp_time), inst_id_code",
     ["BTC-USDT", "SPOT", "BTC", "USDT", "0.1", "0.00000001", "0.00001", "live",
      "2020-11-27 09:16:12.000", "\\N", "1000000000"]),
    (STATUS, "system_status",
     "toString(ts), title, state, toString(begin_time), toString(end_time), "
     "toString(pre_open_time), service_type, system, maint_type, env",
     ["2023-01-04 09:53:58.470", "Trading account WebSocket system upgrade", "completed",
      "2023-01-04 09:10:00.000", "2023-01-04 09:53:00.000", "\\N", "0", "unified", "1",
      "1"]),
]  # fmt: skip


def rows_of(frames: list[object], **kwargs: object) -> tuple[list[tuple[str, tuple]], Pipeline]:
    rows: list[tuple[str, tuple[object, ...]]] = []
    p = Pipeline(lambda t, r: rows.append((t, r)), **kwargs)  # type: ignore[arg-type]
    for f in frames:
        p.process(f if isinstance(f, str) else json.dumps(f), RX)
    return rows, p


def test_documented_pushes_are_stored_exactly_in_chdb(tmp_path: Path) -> None:
    chdb_sink = pytest.importorskip("okx_ingestor.sinks").ChdbSink
    pytest.importorskip("chdb")
    sink = chdb_sink(tmp_path / "db", sql_dir=SQL, engine_dir=ENGINE,
                     variables={"ttl_raw_days": "10000", "ttl_agg_days": "10000"})  # fmt: skip
    try:
        for push, table, select, expected in STORED:
            rows, p = rows_of([push, push])  # resent after a reconnect: one row kept
            assert not p.summary()["quarantined"], table
            assert {t for t, _ in rows} == {f"hft_data.{table}"}
            batch_rows = [r for _, r in rows]
            sink.write(Batch(f"hft_data.{table}", batch_rows,
                             batch_token(f"hft_data.{table}", batch_rows), 0))  # fmt: skip
            got = sink.query(f"SELECT {select} FROM hft_data.{table} FINAL").rstrip("\n")
            assert got.split("\t") == expected, table
    finally:
        sink.close()


def test_instruments_push_makes_the_same_symbols_rows_as_the_rest_list() -> None:
    """Real 2022 OKX instruments (the REST answers in shared/data) pushed through the
    instruments channel: the same hft_data.symbols rows as rest.parse_instruments_response."""
    if not RECORDED.exists():
        pytest.skip("shared/data/okx-recorded-2022 not present")
    checked = 0
    for line in RECORDED.read_text().splitlines():
        url, _, body = line.partition(": ")
        if "instruments?instType=" not in url:
            continue
        inst_type = url.split("instType=")[1].split("&")[0].split()[0]
        rest_rows = parse_instruments_response(body.encode(), RX)
        data = json.loads(body)["data"]
        push = {"arg": {"channel": "instruments", "instType": inst_type}, "data": data}
        rows, p = rows_of([push])
        assert not p.summary()["quarantined"], inst_type
        assert [r for _, r in rows] == rest_rows
        checked += len(rows)
    assert checked > 100


def item(push: dict, **fields: object) -> str:
    obj = json.loads(json.dumps(push))
    obj["data"][0].update(fields)
    return json.dumps(obj)


def detail(**fields: object) -> str:
    obj = json.loads(json.dumps(LIQUIDATION))
    obj["data"][0]["details"][0].update(fields)
    return json.dumps(obj)


BAD = [
    (item(OPEN_INTEREST, oi="1e5"), "bad_number:oi"),
    (item(OPEN_INTEREST, oiUsd="1" * 21), "bad_number:oiUsd"),
    (item(OPEN_INTEREST, oiCcy="\uff11"), "bad_number:oiCcy"),
    (item(OPEN_INTEREST, ts="0"), "bad_timestamp:ts"),
    (item(OPEN_INTEREST, instId="ETH-USDT-SWAP"), "inst_id_mismatch"),
    (item(OPEN_INTEREST, instType="SW AP"), "bad_value:instType"),
    (item(PRICE_LIMIT, buyLmt="-1"), "bad_number:buyLmt"),
    (item(PRICE_LIMIT, buyLmt=""), "bad_number:buyLmt"),  # "" only when not enabled
    (item(PRICE_LIMIT, enabled="true"), "bad_value:enabled"),
    (item(PRICE_LIMIT, ts=str(2**70)), "bad_timestamp:ts"),
    (item(ESTIMATED_BY_ID, settleType="bogus"), "bad_value:settleType"),
    (item(ESTIMATED_BY_ID, settlePx="0." + "1" * 19), "bad_number:settlePx"),
    (item(ESTIMATED_BY_ID, instType="SWAP"), "inst_type_mismatch"),
    (detail(side="up"), "bad_value:side"),
    (detail(bkPx="NaN"), "bad_number:bkPx"),
    (detail(ts="12"), "bad_timestamp:ts"),
    (item(LIQUIDATION, instType="FUTURES"), "inst_type_mismatch"),
    (item(LIQUIDATION, instId="IOST USDT\u00e9"), "bad_inst_id"),
    (item(OPT_SUMMARY, delta="1e-3"), "bad_number:delta"),
    (item(OPT_SUMMARY, markVol="-0.1"), "bad_number:markVol"),
    (item(OPT_SUMMARY, instId="ETH-USD-241013-2000-P"), "inst_family_mismatch"),
    (item(INSTRUMENT, tickSz="0,1"), "bad_number:tickSz"),
    (item(INSTRUMENT, instType="SWAP"), "inst_type_mismatch"),
    (item(INSTRUMENT, listTime="\uff11" * 13), "bad_timestamp:listTime"),
    (item(INSTRUMENT, instIdCode=2**64), "bad_integer:instIdCode"),
    (item(STATUS, begin="99999999999999"), "bad_timestamp:begin"),
    (item(STATUS, title="a\x00b"), "bad_value:title"),
    (item(STATUS, ts="1"), "bad_timestamp:ts"),
    (json.dumps({"arg": {"channel": "instruments", "instType": "S POT"}, "data": []}),
     "bad_arg:instType"),
]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("frame", "reason"), BAD)
def test_a_bad_field_quarantines_that_message_only(
    frame: str, reason: str, mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    q = Quarantine(tmp_path / "quarantine.jsonl")
    good = json.loads(frame)
    good_frame = json.dumps({"arg": good["arg"], "data": []})  # same stream, no items
    if reason.startswith("bad_arg"):
        good_frame = json.dumps(STATUS)
    with pipeline_mode(mode, monkeypatch):
        rows, p = rows_of([OPEN_INTEREST, frame, OPEN_INTEREST, good_frame], quarantine=q)
    assert p.summary()["quarantined"] == {reason: 1}
    assert [t for t, _ in rows][:2] == ["hft_data.open_interest"] * 2
    (line,) = (tmp_path / "quarantine.jsonl").read_text().splitlines()
    assert json.loads(line)["reason"] == reason


@pytest.mark.parametrize("mode", MODES)
def test_all_paths_give_the_same_rows(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """C push, Python fast path and decode(): identical rows for every channel."""
    frames = [push for push, *_ in STORED]
    with pipeline_mode("decode", monkeypatch):
        want, _ = rows_of(frames)
    with pipeline_mode(mode, monkeypatch):
        got, _ = rows_of(frames)
    assert got == want and len(want) == len(frames)


def test_a_scope_not_subscribed_is_quarantined() -> None:
    """With the subscription given (as the service does), liquidation-orders / opt-summary
    / instruments pushes for an instType or instFamily the instruments do not imply are
    quarantined; the implied ones pass."""
    insts = ["BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-241013-70000-P"]
    other = json.loads(json.dumps(OPT_SUMMARY))
    other["arg"]["instFamily"] = "ETH-USD"
    other["data"][0]["instId"] = "ETH-USD-241013-2000-P"
    futures = {"arg": {"channel": "liquidation-orders", "instType": "FUTURES"}, "data": []}
    rows, p = rows_of([LIQUIDATION, OPT_SUMMARY, INSTRUMENT, STATUS, other, futures],
                      inst_ids=insts)  # fmt: skip
    assert p.summary()["quarantined"] == {"unsubscribed_arg": 2}
    assert [t.split(".")[1] for t, _ in rows] == [
        "liquidations", "option_summaries", "symbols", "system_status"]  # fmt: skip


def test_config_subscribes_each_channel_as_documented() -> None:
    cfg = parse_config({
        "instruments": ["BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-241013-70000-P"],
        "channels": ["open-interest", "price-limit", "estimated-price", "liquidation-orders",
                     "opt-summary", "instruments", "status"],
        "sinks": {"jsonl": {"path": "/tmp/x.jsonl"}},
    })  # fmt: skip
    (url, args), *more = cfg.subscriptions().items()
    assert not more and url.endswith("/ws/v5/public")
    by_channel: dict[str, list[dict[str, str]]] = {}
    for a in args:
        by_channel.setdefault(a["channel"], []).append(a)
    assert len(by_channel["open-interest"]) == 3 == len(by_channel["price-limit"])
    assert [a["instId"] for a in by_channel["estimated-price"]] == [
        "BTC-USDT-SWAP", "BTC-USD-241013-70000-P"]  # fmt: skip
    assert by_channel["estimated-price"][0]["instType"] == "SWAP"
    assert [a["instType"] for a in by_channel["liquidation-orders"]] == [
        "MARGIN", "OPTION", "SWAP"]  # fmt: skip
    assert by_channel["opt-summary"] == [{"channel": "opt-summary", "instFamily": "BTC-USD"}]
    assert [a["instType"] for a in by_channel["instruments"]] == ["OPTION", "SPOT", "SWAP"]
    assert by_channel["status"] == [{"channel": "status"}]


def test_opt_summary_without_an_option_instrument_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"add one, e\.g\. BTC-USD-"):
        parse_config({"instruments": ["BTC-USDT"], "channels": ["opt-summary"],
                      "sinks": {"jsonl": {"path": "/tmp/x.jsonl"}}})  # fmt: skip


def test_redis_latest_keys_for_open_interest_and_price_limits() -> None:
    pytest.importorskip("redis")
    from okx_ingestor.sinks import LATEST_TABLES, RedisLatestSink

    assert {"open_interest", "price_limits"} <= LATEST_TABLES
    sink = RedisLatestSink("redis://127.0.0.1:1")  # no connection until a write
    (_, oi), (_, limit) = rows_of([OPEN_INTEREST, PRICE_LIMIT])[0]
    key, mapping = sink.key_and_mapping("open_interest", oi)
    assert key == "okx:open-interest:BTC-USDT-SWAP"
    assert mapping["oi"] == "2216113.01000000309" and mapping["ts"] == "2025-03-27 02:07:30.440"
    key, mapping = sink.key_and_mapping("price_limits", limit)
    assert key == "okx:price-limit:LTC-USD-190628"
    assert (mapping["buy_lmt"], mapping["sell_lmt"], mapping["enabled"]) == ("200", "300", "1")
    sink.close()


def test_simulator_to_service_to_chdb(tmp_path: Path) -> None:
    """The live path: the simulator acknowledges each issue 13 subscription the config
    derives and pushes the documented shape; the service stores every one in chdb."""
    import asyncio

    pytest.importorskip("chdb")
    from okx_ingestor.service import Service
    from okx_ingestor.simulator import Simulator

    insts = ["BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-241013-70000-P"]
    channels = ["open-interest", "price-limit", "estimated-price", "liquidation-orders",
                "opt-summary", "instruments", "status"]  # fmt: skip

    async def scenario() -> list[dict[str, object]]:
        sim = Simulator(insts, rate=0)
        await sim.start()
        cfg = parse_config({
            "endpoints": {"public": sim.url, "business": sim.url},
            "instruments": insts, "channels": channels,
            "batch": {"max_rows": 200, "max_interval_s": 0.1},
            "spool": {"dir": str(tmp_path / "spool")}, "metrics": {"port": 0},
            "rest": {"symbols": False, "backfill_trades": False},
            "sinks": {"chdb": {"path": str(tmp_path / "chdb"), "sql_dir": str(SQL),
                               "engine_dir": str(ENGINE),
                               "variables": {"ttl_raw_days": 10000}}},
        })  # fmt: skip
        want = len(next(iter(cfg.subscriptions().values())))
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        deadline = asyncio.get_running_loop().time() + 30
        while len(sim.documented_sent) < want and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        return list(sim.documented_sent)

    sent = asyncio.run(scenario())
    from okx_ingestor.sinks import ChdbSink

    reader = ChdbSink(tmp_path / "chdb")
    try:
        counts = {}
        for table in ("open_interest", "price_limits", "estimated_prices", "liquidations",
                      "option_summaries", "symbols", "system_status"):  # fmt: skip
            counts[table] = int(reader.query(f"SELECT count() FROM hft_data.{table} FINAL"))
        oi = reader.query("SELECT inst_id, toString(oi) FROM hft_data.open_interest ORDER BY 1")
    finally:
        reader.close()
    items = {}
    for push in sent:
        channel = push["arg"]["channel"]  # type: ignore[index]
        items[channel] = items.get(channel, 0) + len(push["data"])  # type: ignore[arg-type]
    assert counts == {
        "open_interest": 3, "price_limits": 3, "estimated_prices": 2,
        "liquidations": items["liquidation-orders"], "option_summaries": 1, "symbols": 3,
        "system_status": 1,
    }  # fmt: skip
    assert [line.split("\t") for line in oi.strip().splitlines()] == [
        [i, "1000.5"] for i in sorted(insts)]  # fmt: skip
