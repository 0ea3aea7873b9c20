from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from okx_ingestor.cli import main
from okx_ingestor.config import BUSINESS_URL, PUBLIC_URL, ConfigError, parse_config


def base(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "instruments": ["BTC-USDT", "ETH-USDT"],
        "channels": ["trades", "books", "trades-all"],
        "sinks": {"jsonl": {"path": "/tmp/x.jsonl"}},
    }
    cfg.update(over)
    return cfg


def test_defaults_and_subscriptions_split_by_url() -> None:
    cfg = parse_config(base())
    subs = cfg.subscriptions()
    assert len(subs[PUBLIC_URL]) == 4
    assert subs[BUSINESS_URL] == [
        {"channel": "trades-all", "instId": "BTC-USDT"},
        {"channel": "trades-all", "instId": "ETH-USDT"},
    ]
    assert cfg.ping_after_s == 20.0 and cfg.batch_max_rows == 50_000


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"instruments": []}, "instruments"),
        ({"channels": ["books", "candle1m"]}, "channels[1]"),
        ({"channels": ["books-l2-tbt"]}, "channels[0]"),
        ({"connection": {"ping_after_s": 30}}, "connection.ping_after_s"),
        ({"connection": {"ping_after_s": "fast"}}, "connection.ping_after_s"),
        ({"batch": {"max_rows": 0}}, "batch.max_rows"),
        ({"batch": {"max_rowz": 5}}, "batch.max_rowz"),
        ({"sinks": {}}, "sinks"),
        ({"sinks": {"clickhouse": {"port": "x"}}}, "sinks.clickhouse.port"),
        ({"sinks": {"redis": {}}}, "sinks.redis.url"),
        ({"sinks": {"postgres": {}}}, "sinks.postgres"),
        ({"endpoints": {"public": "http://x"}}, "endpoints.public"),
        ({"log": {"level": "loud"}}, "log.level"),
        ({"extra": 1}, "extra"),
    ],
)
def test_errors_name_the_key(over: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(base(**over))
    assert info.value.key == key
    assert f"'{key}'" in str(info.value)


def test_l2_tbt_allowed_when_declared() -> None:
    assert parse_config(base(channels=["books-l2-tbt"], l2_tbt=True)).channels == ["books-l2-tbt"]


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yml"
    good.write_text("instruments: [BTC-USDT]\nsinks:\n  jsonl: {path: /tmp/o.jsonl}\n")
    assert main(["check-config", "--config", str(good)]) == 0
    assert "config OK: 1 instruments, 3 subscriptions" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("instruments: [BTC-USDT]\nsinks:\n  jsonl: {}\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    assert "sinks.jsonl.path" in capsys.readouterr().err
    assert main(["check-config", "--config", str(tmp_path / "missing.yml")]) == 2
