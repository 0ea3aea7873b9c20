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


LOGIN = {"api_key": "key-1", "secret_key": "SECRET-never-shown", "passphrase": "PASS-never-shown"}


def test_l2_tbt_allowed_when_declared_with_credentials() -> None:
    cfg = parse_config(base(channels=["books-l2-tbt"], l2_tbt=True, login=LOGIN))
    assert cfg.channels == ["books-l2-tbt"] and cfg.login is not None
    assert "SECRET" not in repr(cfg) and "PASS" not in repr(cfg)  # never in a log line


def test_check_config_rejects_l2_tbt_without_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l2.yml"
    path.write_text(
        "instruments: [BTC-USDT]\nchannels: [books50-l2-tbt]\nl2_tbt: true\n"
        "sinks:\n  jsonl: {path: /tmp/o.jsonl}\n"
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'login'" in err and "books50-l2-tbt needs a login" in err
    for what in (
        "login.api_key",
        "login.secret_key",
        "login.passphrase",
        "ingestor_okx_api_key_var",
    ):
        assert what in err, what
    # Half the credentials: told which key is missing, and no value is echoed.
    path.write_text(
        "instruments: [BTC-USDT]\nchannels: [books-l2-tbt]\nl2_tbt: true\n"
        "login: {api_key: key-1, secret_key: SECRET-never-shown}\n"
        "sinks:\n  jsonl: {path: /tmp/o.jsonl}\n"
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'login.passphrase'" in err and "SECRET" not in err
    path.write_text(
        "instruments: [BTC-USDT, ETH-USDT]\nchannels: [books, books-l2-tbt]\nl2_tbt: true\n"
        "login: {api_key: k, secret_key: SECRET-never-shown, passphrase: PASS-never-shown}\n"
        "sinks:\n  jsonl: {path: /tmp/o.jsonl}\n"
    )
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 connection(s) (1 logging in)" in out and "SECRET" not in out


@pytest.mark.parametrize(
    ("channel", "inst_id", "exists"),
    [
        ("funding-rate", "BTC-USDT-SWAP", True),
        ("funding-rate", "BTC-USDT", False),  # SPOT
        ("funding-rate", "BTC-USD-250328", False),  # FUTURES: no funding
        ("funding-rate", "BTC-USD-250328-50000-C", False),
        ("mark-price", "BTC-USDT-SWAP", True),
        ("mark-price", "BTC-USD-250328", True),
        ("mark-price", "BTC-USD-250328-50000-C", True),
        ("mark-price", "BTC-USDT", True),  # the MARGIN instrument of the same instId
        ("index-tickers", "BTC-USDT", True),
        ("index-tickers", "BTC-USD", True),
        ("index-tickers", "BTC-USDT-SWAP", False),
        ("index-tickers", "BTC-EUR", False),  # OKX indexes quote USD, USDT, BTC or USDC
        ("trades", "BTC-USD-250328-50000-C", True),
        ("books-l2-tbt", "BTC-USD-250328", True),
    ],
)
def test_channel_exists_for_inst_type(channel: str, inst_id: str, exists: bool) -> None:
    cfg = base(instruments=[inst_id], channels=["trades", channel], l2_tbt=True, login=LOGIN)
    if exists:
        assert parse_config(cfg).channels == ["trades", channel]
        return
    with pytest.raises(ConfigError) as info:
        parse_config(cfg)
    assert info.value.key == "channels[1]"
    assert f"{channel} does not exist for {inst_id}" in str(info.value)
    assert "60018" in str(info.value)


def test_every_known_channel_has_an_inst_type_entry() -> None:
    from okx_ingestor.config import BUSINESS_CHANNELS, CHANNEL_INST_TYPES, PUBLIC_CHANNELS

    assert set(PUBLIC_CHANNELS | BUSINESS_CHANNELS) <= set(CHANNEL_INST_TYPES)


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
