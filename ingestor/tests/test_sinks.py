from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import redis
from okx_ingestor.batcher import Batch, batch_token
from okx_ingestor.schema import RAW_TICKS
from okx_ingestor.sinks import JsonLinesSink, RedisLatestSink, SinkUnavailable, to_columns


def batch(table: str, rows: list[tuple[object, ...]]) -> Batch:
    return Batch(table, rows, batch_token(table, rows), 0)


TICKS = [
    (
        "BTC-USDT",
        1,
        1_700_000_000_123,
        "42219.9",
        "0.12060306",
        "buy",
        1,
        0,
        5,
        1_700_000_000_123_456,
    ),
    ("BTC-USDT", 2, 1_700_000_000_124, "42220.1", "0.5", "sell", 1, 0, 6, 1_700_000_000_124_000),
]
BBO = [
    (
        "BTC-USDT",
        1_700_000_000_125,
        77,
        "42220",
        "1",
        3,
        "42220.1",
        "2",
        4,
        1_700_000_000_125_001,
        "books",
    )
]


def test_columns_are_exact_decimals_and_utc_datetimes() -> None:
    cols = to_columns(RAW_TICKS, TICKS)
    assert cols[3] == [Decimal("42219.9"), Decimal("42220.1")]
    assert cols[2][0].isoformat() == "2023-11-14T22:13:20.123000+00:00"
    assert cols[9][0].isoformat() == "2023-11-14T22:13:20.123456+00:00"


def test_jsonl_sink(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "out" / "rows.jsonl")
    sink.write(batch("hft_data.raw_ticks", TICKS))
    sink.close()
    lines = [json.loads(x) for x in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert lines[0]["row"]["price"] == "42219.9" and lines[1]["row"]["side"] == "sell"
    assert lines[0]["row"]["received_at"] == "2023-11-14 22:13:20.123456"


def write_rows(sink: RedisLatestSink, short: str, rows: list[tuple[object, ...]]) -> None:
    """As RedisLatestWriter._send: one hash per row, the newest row per key wins."""
    sink.write_latest(dict(sink.key_and_mapping(short, row) for row in rows))


def test_redis_latest_state(redis_server: str) -> None:
    sink = RedisLatestSink(redis_server, prefix="t1")
    write_rows(sink, "raw_ticks", TICKS)
    write_rows(sink, "bbo", BBO)
    r = redis.Redis.from_url(redis_server, decode_responses=True)
    assert r.hgetall("t1:trade:BTC-USDT") == {
        "trade_id": "2",
        "ts": "2023-11-14 22:13:20.124",
        "price": "42220.1",
        "size": "0.5",
        "side": "sell",
        "count": "1",
        "source": "0",
        "seq_id": "6",
        "received_at": "2023-11-14 22:13:20.124000",
    }
    bbo = r.hgetall("t1:bbo:BTC-USDT")
    assert (bbo["bid_px"], bbo["ask_px"], bbo["seq_id"]) == ("42220", "42220.1", "77")
    sink.close()


def test_redis_down_raises_sink_unavailable() -> None:
    sink = RedisLatestSink("redis://127.0.0.1:1/0")
    try:
        write_rows(sink, "raw_ticks", TICKS)
    except SinkUnavailable as exc:
        assert "Redis unreachable" in str(exc)
    else:
        raise AssertionError("expected SinkUnavailable")
