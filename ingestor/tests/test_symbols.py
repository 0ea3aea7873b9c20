"""/api/v5/public/instruments -> hft_data.symbols: mapping, config, and
simulator -> service -> chdb rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from okx_ingestor.config import ConfigError, parse_config
from okx_ingestor.rest import RestError, inst_type_of, parse_instruments_response
from okx_ingestor.schema import SYMBOLS

ROOT = Path(__file__).resolve().parents[2]

# OKX docs example (public/data/rest-api-get-instruments.md), trimmed to the used fields.
SPOT = {
    "alias": "", "baseCcy": "BTC", "category": "1", "ctMult": "", "ctType": "", "ctVal": "",
    "ctValCcy": "", "expTime": "", "instFamily": "", "instId": "BTC-USDT",
    "instIdCode": 10000123, "instType": "SPOT", "lever": "10", "listTime": "1606468572000",
    "lotSz": "0.00000001", "minSz": "0.00001", "optType": "", "quoteCcy": "USDT",
    "settleCcy": "", "state": "live", "stk": "", "tickSz": "0.1", "uly": "",
}  # fmt: skip
SWAP = {
    **SPOT, "baseCcy": "", "quoteCcy": "", "ctMult": "1", "ctType": "linear",
    "ctVal": "0.000000000000000001", "ctValCcy": "BTC", "instFamily": "BTC-USDT",
    "instId": "BTC-USDT-SWAP", "instIdCode": "", "instType": "SWAP", "settleCcy": "USDT",
    "uly": "BTC-USDT", "lotSz": "1", "minSz": "1", "tickSz": "0.000000000000000001",
}  # fmt: skip


def test_mapping_is_exact_and_empty_strings_are_null() -> None:
    body = orjson.dumps({"code": "0", "msg": "", "data": [SPOT, SWAP]})
    spot, swap = parse_instruments_response(body, 1_700_000_000_000_000)
    names = SYMBOLS.column_names
    s = dict(zip(names, spot, strict=True))
    assert s["inst_id"] == "BTC-USDT" and s["inst_type"] == "SPOT"
    assert (s["tick_sz"], s["lot_sz"], s["min_sz"]) == ("0.1", "0.00000001", "0.00001")
    assert (s["ct_val"], s["ct_mult"], s["exp_time"]) == (None, None, None)
    assert s["list_time"] == 1606468572000 and s["inst_id_code"] == 10000123
    w = dict(zip(names, swap, strict=True))
    assert w["ct_val"] == "0.000000000000000001" and w["ct_type"] == "linear"
    assert w["inst_id_code"] is None and w["uly"] == "BTC-USDT"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        orjson.dumps({"code": "51000", "msg": "Parameter instType error", "data": []}),
        orjson.dumps({"code": "0", "msg": "", "data": [{"instId": "X", "tickSz": "abc"}]}),
        orjson.dumps({"code": "0", "msg": "", "data": [{"tickSz": "1"}]}),
    ],
)
def test_bad_answers_raise_rest_error(body: bytes) -> None:
    with pytest.raises(RestError):
        parse_instruments_response(body, 0)


@pytest.mark.parametrize(
    ("inst", "expected"),
    [
        ("BTC-USDT", ("SPOT", None)),
        ("BTC-USDT-SWAP", ("SWAP", None)),
        ("BTC-USD-250328", ("FUTURES", None)),
        ("BTC-USD-250328-100000-C", ("OPTION", "BTC-USD")),
    ],
)
def test_inst_type_from_inst_id(inst: str, expected: tuple[str, str | None]) -> None:
    assert inst_type_of(inst) == expected


def base(**rest: object) -> dict[str, object]:
    return {"instruments": ["BTC-USDT", "ETH-USDT-SWAP", "BTC-USD-250328-1-P"],
            "sinks": {"jsonl": {"path": "/tmp/x"}}, "rest": rest}  # fmt: skip


def test_queries_are_derived_from_the_subscribed_instruments() -> None:
    cfg = parse_config(base())
    assert cfg.symbol_queries() == [("OPTION", "BTC-USD"), ("SPOT", None), ("SWAP", None)]
    cfg = parse_config(base(symbols_inst_types=["FUTURES"], symbols_refresh_min=5))
    assert cfg.symbol_queries() == [("FUTURES", None)] and cfg.symbols_refresh_min == 5


@pytest.mark.parametrize(
    ("rest", "key"),
    [
        ({"symbols_inst_types": ["PERP"]}, "rest.symbols_inst_types[0]"),
        ({"symbols_refresh_min": 0}, "rest.symbols_refresh_min"),
        ({"symbols": "yes"}, "rest.symbols"),
        ({"symbols_inst_families": ["BTC"]}, "rest.symbols_inst_families[0]"),
        ({"base_url": "ftp://x"}, "rest.base_url"),
    ],
)
def test_bad_symbols_config_names_the_key(rest: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(base(**rest))
    assert err.value.key == key


def test_option_without_family_is_refused() -> None:
    raw = base(symbols_inst_types=["OPTION"])
    raw["instruments"] = ["BTC-USDT"]
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.key == "rest.symbols_inst_families"


def test_simulator_to_service_to_chdb_symbols(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    from okx_ingestor.service import Service
    from okx_ingestor.simulator import Simulator, instrument_entry
    from okx_ingestor.sinks import ChdbSink

    insts = ["BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"]

    async def scenario() -> Service:
        sim = Simulator(insts, rate=100)
        await sim.start()
        cfg = parse_config(
            {
                "endpoints": {"public": sim.url, "business": sim.url},
                "instruments": insts,
                "channels": ["trades"],
                "batch": {"max_rows": 100, "max_interval_s": 0.1},
                "spool": {"dir": str(tmp_path / "spool")},
                "metrics": {"port": 0},
                "rest": {"base_url": sim.rest_url},
                "sinks": {"chdb": {"path": str(tmp_path / "chdb"),
                                   "sql_dir": str(ROOT / "files" / "sql"),
                                   "engine_dir": str(ROOT / "plugins" / "module_utils")}},
            }
        )  # fmt: skip
        svc = Service(cfg)
        task = asyncio.create_task(svc.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while svc.symbol_rows < 3 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        svc.stopping.set()
        assert await task == 0
        await sim.stop()
        return svc

    svc = asyncio.run(scenario())
    assert svc.symbol_rows == 3 and svc.rest_errors == 0
    reader = ChdbSink(tmp_path / "chdb")
    try:
        got = reader.query(
            "SELECT inst_id, inst_type, toString(tick_sz), toString(lot_sz), toString(ct_val), "
            "ct_type, toString(list_time), toString(inst_id_code) "
            "FROM hft_data.symbols FINAL ORDER BY inst_id"
        )
    finally:
        reader.close()
    rows = [line.split("\t") for line in got.splitlines() if line.strip()]
    swap = instrument_entry("BTC-USDT-SWAP", "SWAP")
    assert [r[:2] for r in rows] == [["BTC-USDT", "SPOT"], ["BTC-USDT-SWAP", "SWAP"],
                                     ["ETH-USDT", "SPOT"]]  # fmt: skip
    assert rows[1][2:6] == ["0.1", "1", swap["ctVal"], "linear"]
    assert rows[0][4] == "\\N" and rows[0][3] == "0.00000001"
    assert rows[0][6] == "2020-11-27 09:16:12.000"
    assert rows[1][7] == swap["instIdCode"]
