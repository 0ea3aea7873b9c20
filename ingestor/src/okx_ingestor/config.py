"""YAML configuration, validated once at start; errors name the offending key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .login import Credentials
from .rest import INST_TYPES, inst_type_of
from .scopes import subscribe_args
from .validate import TS_AHEAD_DEFAULT_MS, TS_MIN_DEFAULT_MS, parse_ts_min

PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
BUSINESS_URL = "wss://ws.okx.com:8443/ws/v5/business"
PUBLIC_CHANNELS = {
    "trades",
    "books",
    "books5",
    "bbo-tbt",
    "tickers",
    "funding-rate",
    "mark-price",
    "index-tickers",
    "books-l2-tbt",
    "books50-l2-tbt",
    # issue 13; all on /public per the OKX docs (2026-06-15); args: scopes.py
    "open-interest",
    "price-limit",
    "estimated-price",
    "liquidation-orders",
    "opt-summary",
    "instruments",
    "status",
}
BUSINESS_CHANNELS = {"trades-all"}
L2_TBT = {"books-l2-tbt", "books50-l2-tbt"}

# Which instTypes a channel exists for (OKX docs-v5, WebSocket public channels); OKX
# answers 60018 for any other. "INDEX" = an index instId (index-tickers: BTC-USDT, a
# quote of USD, USDT, BTC or USDC). A channel missing here is not checked. To add a
# channel, add its line (its instTypes as documented).
ALL_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
CHANNEL_INST_TYPES: dict[str, frozenset[str]] = {
    "trades": ALL_TYPES,
    "trades-all": ALL_TYPES,
    "books": ALL_TYPES,
    "books5": ALL_TYPES,
    "bbo-tbt": ALL_TYPES,
    "books-l2-tbt": ALL_TYPES,
    "books50-l2-tbt": ALL_TYPES,
    "tickers": ALL_TYPES,
    "funding-rate": frozenset({"SWAP"}),  # perpetual swaps only
    "mark-price": frozenset({"MARGIN", "SWAP", "FUTURES", "OPTION"}),  # no SPOT
    "index-tickers": frozenset({"INDEX"}),
    # Not narrowed yet: OKX documents open-interest for derivatives, but the ingestor
    # subscribes it per configured instId (scopes.py); narrowing it here needs scopes.py
    # to skip spot pairs first. price-limit: the docs (2026-06-15) name no restriction.
    "open-interest": ALL_TYPES,
    "price-limit": ALL_TYPES,
    # Subscribed per instType / instFamily, not per instId: scopes.py derives the args
    # from the instruments that fit, and the parser rejects a list where none does.
    "estimated-price": ALL_TYPES,
    "liquidation-orders": ALL_TYPES,
    "opt-summary": ALL_TYPES,
    "instruments": ALL_TYPES,
    "status": ALL_TYPES,
}
INDEX_QUOTES = ("USD", "USDT", "BTC", "USDC")


def inst_types_for_id(inst_id: str) -> frozenset[str]:
    """The instTypes an instId can be, from its format: BTC-USDT is SPOT, MARGIN (the
    same instId, when the pair has margin trading) or an INDEX; BTC-USDT-SWAP is SWAP;
    BTC-USD-250328 FUTURES; BTC-USD-250328-50000-C OPTION."""
    kind, _ = inst_type_of(inst_id)
    if kind != "SPOT":
        return frozenset({kind})
    parts = inst_id.split("-")
    index = len(parts) == 2 and parts[1] in INDEX_QUOTES
    return frozenset({"SPOT", "MARGIN"} | ({"INDEX"} if index else set()))


def channel_problem(channel: str, inst_id: str) -> str | None:
    """Why `channel` cannot exist for `inst_id` (OKX would answer 60018), or None."""
    allowed = CHANNEL_INST_TYPES.get(channel)
    if allowed is None or allowed & inst_types_for_id(inst_id):
        return None
    kinds = "/".join(sorted(inst_types_for_id(inst_id) - {"INDEX", "MARGIN"}) or ["INDEX"])
    return (
        f"{channel} does not exist for {inst_id} ({kinds}; {channel} covers "
        f"{', '.join(sorted(allowed))}): OKX answers 60018. Subscribe it in an instance "
        "of its own instruments (e.g. funding-rate with *-SWAP instIds only)"
    )


SINK_KINDS = {"clickhouse", "chdb", "redis", "jsonl", "kafka"}


# Channels subscribed per instType / instFamily of the instruments (scopes.py), when none fits.
_NO_ARGS = {
    "opt-summary": "opt-summary is subscribed per instFamily of the option instruments: "
    "add one, e.g. BTC-USD-261225-100000-C",
    "estimated-price": "estimated-price exists for FUTURES, SWAP and OPTION: add one, "
    "e.g. BTC-USDT-SWAP",
}


class ConfigError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error at '{key}': {problem}")
        self.key = key


# Sinks without a spool or a dead-letter directory: Redis is written per message (only
# the newest row matters), JSON lines is a local file.
UNSPOOLED_SINKS = frozenset({"redis", "jsonl"})
# The writer's overflow spool, next to the sinks' spools (a name no sink can have).
OVERFLOW_SPOOL = "writer-overflow"


@dataclass
class Config:
    instance: str = "main"
    public_url: str = PUBLIC_URL
    business_url: str = BUSINESS_URL
    instruments: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=lambda: ["trades", "books", "tickers"])
    l2_tbt: bool = False
    ping_after_s: float = 20.0
    pong_timeout_s: float = 5.0
    max_channels_per_connection: int = 30
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    batch_max_rows: int = 50_000
    batch_max_interval_s: float = 1.0
    queue_batches: int = 64
    spool_dir: Path = Path("/var/lib/okx-ingestor/spool")
    spool_max_bytes: int = 1 << 30
    dead_letter_max_bytes: int = 256 << 20
    database: str = "hft_data"
    book_levels: bool = True
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics_listen: str = "127.0.0.1"
    metrics_port: int = 9108
    log_level: str = "INFO"
    shutdown_timeout_s: float = 10.0
    rest_url: str = "https://www.okx.com"
    rest_snapshot_after_s: float = 2.0
    rest_depth: int = 400
    backfill_trades: bool = True  # rest.backfill_trades: after a reconnect (item 9)
    symbols: bool = True
    symbols_refresh_min: float = 60.0
    symbols_inst_types: list[str] = field(default_factory=list)  # [] = from instruments
    symbols_inst_families: list[str] = field(default_factory=list)  # OPTION; [] = derived
    ts_min_ms: int = TS_MIN_DEFAULT_MS  # validation.ts_min
    ts_max_ahead_s: float = TS_AHEAD_DEFAULT_MS / 1000  # validation.ts_max_ahead_s
    quarantine_max_bytes: int = 64 << 20
    stall_s: float = 60.0  # supervision.stall_s
    login: Credentials | None = None  # login.*: OKX API key for the l2-tbt channels

    def spooled_sinks(self) -> list[str]:
        return [name for name in self.sinks if name not in UNSPOOLED_SINKS]

    def spool_path(self, sink: str) -> Path:
        return self.spool_dir / sink

    def dead_letter_path(self, sink: str) -> Path:
        return self.spool_dir / f"{sink}.dead-letter"

    def quarantine_path(self) -> Path:
        """Frames and rows set aside, one JSON line each (quarantine.py)."""
        return self.spool_dir / "quarantine.jsonl"

    def overflow_spool_path(self) -> Path:
        """The writer's overflow spool (service.Writer); not a sink name, which are fixed."""
        return self.spool_dir / OVERFLOW_SPOOL

    def subscriptions(self) -> dict[str, list[dict[str, str]]]:
        """URL -> subscribe args."""
        out: dict[str, list[dict[str, str]]] = {}
        for channel in self.channels:
            url = self.business_url if channel in BUSINESS_CHANNELS else self.public_url
            out.setdefault(url, []).extend(subscribe_args(channel, self.instruments))
        return out

    def symbol_queries(self) -> list[tuple[str, str | None]]:
        """(instType, instFamily) pairs to fetch from /api/v5/public/instruments."""
        derived = [inst_type_of(i) for i in self.instruments]
        types = self.symbols_inst_types or sorted({t for t, _ in derived})
        families = self.symbols_inst_families or sorted({f for _, f in derived if f})
        out: list[tuple[str, str | None]] = []
        for inst_type in types:
            if inst_type == "OPTION":
                out.extend(("OPTION", fam) for fam in families)
            else:
                out.append((inst_type, None))
        return out


def _get(d: dict[str, Any], key: str, path: str, kind: type, default: Any) -> Any:
    if key not in d or d[key] is None:
        return default
    value = d[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{path}{key}", f"expected true/false, got {value!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}{key}", f"expected {kind.__name__}, got {value!r}")
    return value


def _section(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected a mapping, got {type(value).__name__}")
    return value


def _positive(value: float, key: str) -> float:
    if value <= 0:
        raise ConfigError(key, f"must be > 0, got {value}")
    return value


def _check_unknown(d: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(
            f"{path}{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}"
        )


def parse_config(raw: Any) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError("<top>", "the config file must be a YAML mapping")
    _check_unknown(
        raw,
        {
            "instance",
            "endpoints",
            "instruments",
            "channels",
            "l2_tbt",
            "connection",
            "batch",
            "spool",
            "database",
            "book_levels",
            "sinks",
            "metrics",
            "log",
            "shutdown_timeout_s",
            "rest",
            "validation",
            "supervision",
            "login",
        },
        "",
    )
    c = Config()
    c.instance = _get(raw, "instance", "", str, c.instance)
    ep = _section(raw, "endpoints")
    _check_unknown(ep, {"public", "business"}, "endpoints.")
    c.public_url = _get(ep, "public", "endpoints.", str, c.public_url)
    c.business_url = _get(ep, "business", "endpoints.", str, c.business_url)
    for key, url in (("endpoints.public", c.public_url), ("endpoints.business", c.business_url)):
        if not url.startswith(("wss://", "ws://")):
            raise ConfigError(key, f"must be a ws:// or wss:// URL, got {url!r}")
    c.instruments = _get(raw, "instruments", "", list, [])
    if not c.instruments or not all(isinstance(i, str) and i for i in c.instruments):
        raise ConfigError("instruments", "give a non-empty list of instIds, e.g. [BTC-USDT]")
    c.channels = _get(raw, "channels", "", list, c.channels)
    c.l2_tbt = _get(raw, "l2_tbt", "", bool, False)
    for i, ch in enumerate(c.channels):
        if ch not in PUBLIC_CHANNELS | BUSINESS_CHANNELS:
            known = ", ".join(sorted(PUBLIC_CHANNELS | BUSINESS_CHANNELS))
            raise ConfigError(f"channels[{i}]", f"unknown channel {ch!r}; known: {known}")
        if ch in PUBLIC_CHANNELS and not subscribe_args(ch, c.instruments):
            raise ConfigError(f"channels[{i}]", _NO_ARGS.get(ch, f"{ch}: no instrument fits"))
        if ch in L2_TBT and not c.l2_tbt:
            raise ConfigError(
                f"channels[{i}]",
                f"{ch} needs VIP4+ and login; set l2_tbt: true only if the account qualifies",
            )
    c.login = _login(_section(raw, "login"))
    _channels_exist(c)
    conn = _section(raw, "connection")
    _check_unknown(
        conn,
        {
            "ping_after_s",
            "pong_timeout_s",
            "max_channels_per_connection",
            "backoff_base_s",
            "backoff_cap_s",
        },
        "connection.",
    )
    c.ping_after_s = _get(conn, "ping_after_s", "connection.", float, c.ping_after_s)
    if not 0 < c.ping_after_s < 30:
        raise ConfigError("connection.ping_after_s", "must be > 0 and < 30 (OKX closes at 30 s)")
    c.pong_timeout_s = _positive(
        _get(conn, "pong_timeout_s", "connection.", float, c.pong_timeout_s),
        "connection.pong_timeout_s",
    )
    c.max_channels_per_connection = int(
        _positive(
            _get(
                conn,
                "max_channels_per_connection",
                "connection.",
                int,
                c.max_channels_per_connection,
            ),
            "connection.max_channels_per_connection",
        )
    )
    c.backoff_base_s = _positive(
        _get(conn, "backoff_base_s", "connection.", float, c.backoff_base_s),
        "connection.backoff_base_s",
    )
    c.backoff_cap_s = _positive(
        _get(conn, "backoff_cap_s", "connection.", float, c.backoff_cap_s),
        "connection.backoff_cap_s",
    )
    b = _section(raw, "batch")
    _check_unknown(b, {"max_rows", "max_interval_s", "queue_batches"}, "batch.")
    c.batch_max_rows = int(
        _positive(_get(b, "max_rows", "batch.", int, c.batch_max_rows), "batch.max_rows")
    )
    c.batch_max_interval_s = _positive(
        _get(b, "max_interval_s", "batch.", float, c.batch_max_interval_s), "batch.max_interval_s"
    )
    c.queue_batches = int(
        _positive(_get(b, "queue_batches", "batch.", int, c.queue_batches), "batch.queue_batches")
    )
    s = _section(raw, "spool")
    _check_unknown(s, {"dir", "max_bytes", "dead_letter_max_bytes"}, "spool.")
    c.spool_dir = Path(_get(s, "dir", "spool.", str, str(c.spool_dir)))
    c.spool_max_bytes = int(
        _positive(_get(s, "max_bytes", "spool.", int, c.spool_max_bytes), "spool.max_bytes")
    )
    c.dead_letter_max_bytes = int(
        _positive(
            _get(s, "dead_letter_max_bytes", "spool.", int, c.dead_letter_max_bytes),
            "spool.dead_letter_max_bytes",
        )
    )
    r = _section(raw, "rest")
    _check_unknown(
        r,
        {
            "base_url",
            "snapshot_after_s",
            "depth",
            "symbols",
            "symbols_refresh_min",
            "symbols_inst_types",
            "symbols_inst_families",
            "backfill_trades",
        },
        "rest.",
    )
    c.rest_url = _get(r, "base_url", "rest.", str, c.rest_url)
    if not c.rest_url.startswith(("https://", "http://")):
        raise ConfigError("rest.base_url", f"must be an http(s) URL, got {c.rest_url!r}")
    c.rest_snapshot_after_s = _positive(
        _get(r, "snapshot_after_s", "rest.", float, c.rest_snapshot_after_s),
        "rest.snapshot_after_s",
    )
    c.rest_depth = _get(r, "depth", "rest.", int, c.rest_depth)
    if not 1 <= c.rest_depth <= 400:
        raise ConfigError("rest.depth", f"OKX serves 1-400 levels, got {c.rest_depth}")
    c.backfill_trades = _get(r, "backfill_trades", "rest.", bool, c.backfill_trades)
    _symbols(r, c)
    c.database = _get(raw, "database", "", str, c.database)
    c.book_levels = _get(raw, "book_levels", "", bool, c.book_levels)
    c.sinks = _sinks(_section(raw, "sinks"))
    m = _section(raw, "metrics")
    _check_unknown(m, {"listen", "port"}, "metrics.")
    c.metrics_listen = _get(m, "listen", "metrics.", str, c.metrics_listen)
    c.metrics_port = _get(m, "port", "metrics.", int, c.metrics_port)
    if not 0 <= c.metrics_port <= 65535:
        raise ConfigError("metrics.port", f"must be 0-65535, got {c.metrics_port}")
    lg = _section(raw, "log")
    _check_unknown(lg, {"level"}, "log.")
    c.log_level = _get(lg, "level", "log.", str, c.log_level).upper()
    if c.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log.level", "choose DEBUG, INFO, WARNING or ERROR")
    c.shutdown_timeout_s = _positive(
        _get(raw, "shutdown_timeout_s", "", float, c.shutdown_timeout_s), "shutdown_timeout_s"
    )
    _validation(_section(raw, "validation"), c)
    sv = _section(raw, "supervision")
    _check_unknown(sv, {"stall_s"}, "supervision.")
    c.stall_s = _positive(_get(sv, "stall_s", "supervision.", float, c.stall_s),
                          "supervision.stall_s")  # fmt: skip
    return c


LOGIN_KEYS = ("api_key", "secret_key", "passphrase")


def _login(lg: dict[str, Any]) -> Credentials | None:
    """login.{api_key, secret_key, passphrase}: all or none; values never in a message."""
    _check_unknown(lg, set(LOGIN_KEYS), "login.")
    given = {k: lg.get(k) for k in LOGIN_KEYS if lg.get(k) not in (None, "")}
    if not given:
        return None
    for key in LOGIN_KEYS:
        if not isinstance(given.get(key), str):
            raise ConfigError(
                f"login.{key}", "missing or not a string: set api_key, secret_key and "
                "passphrase of the OKX API key (read-only permission is enough)",
            )  # fmt: skip
    return Credentials(given["api_key"], given["secret_key"], given["passphrase"])


def _channels_exist(c: Config) -> None:
    """Every (channel, instId) can exist (else OKX answers 60018); the l2-tbt channels
    have credentials to log in with."""
    for i, ch in enumerate(c.channels):
        for inst in c.instruments:
            problem = channel_problem(ch, inst)
            if problem is not None:
                raise ConfigError(f"channels[{i}]", problem)
        if ch in L2_TBT and c.login is None:
            raise ConfigError(
                "login",
                f"{ch} needs a login: set login.api_key, login.secret_key and "
                "login.passphrase (role: the vault variables named by "
                "ingestor_okx_api_key_var, ingestor_okx_secret_key_var and "
                "ingestor_okx_passphrase_var)",
            )


def _validation(v: dict[str, Any], c: Config) -> None:
    """validation.*: the exchange-timestamp window and the quarantine file's bound."""
    _check_unknown(v, {"ts_min", "ts_max_ahead_s", "quarantine_max_bytes"}, "validation.")
    ts_min = v.get("ts_min")
    if ts_min is not None:
        try:
            c.ts_min_ms = parse_ts_min(str(ts_min))
        except ValueError as exc:
            raise ConfigError("validation.ts_min", str(exc)) from None
    c.ts_max_ahead_s = _positive(
        _get(v, "ts_max_ahead_s", "validation.", float, c.ts_max_ahead_s),
        "validation.ts_max_ahead_s",
    )
    c.quarantine_max_bytes = int(
        _positive(
            _get(v, "quarantine_max_bytes", "validation.", int, c.quarantine_max_bytes),
            "validation.quarantine_max_bytes",
        )
    )


def _symbols(r: dict[str, Any], c: Config) -> None:
    """rest.symbols*: which instruments lists feed hft_data.symbols, and how often."""
    c.symbols = _get(r, "symbols", "rest.", bool, c.symbols)
    c.symbols_refresh_min = _positive(
        _get(r, "symbols_refresh_min", "rest.", float, c.symbols_refresh_min),
        "rest.symbols_refresh_min",
    )
    c.symbols_inst_types = _get(r, "symbols_inst_types", "rest.", list, [])
    for i, t in enumerate(c.symbols_inst_types):
        if t not in INST_TYPES:
            raise ConfigError(
                f"rest.symbols_inst_types[{i}]",
                f"unknown instType {t!r}; known: {', '.join(INST_TYPES)}",
            )
    c.symbols_inst_families = _get(r, "symbols_inst_families", "rest.", list, [])
    for i, fam in enumerate(c.symbols_inst_families):
        if not isinstance(fam, str) or fam.count("-") != 1:
            raise ConfigError(
                f"rest.symbols_inst_families[{i}]",
                f"expected an instFamily like BTC-USD, got {fam!r}",
            )
    types = {t for t, _ in c.symbol_queries()} | set(c.symbols_inst_types)
    if c.symbols and "OPTION" in types and not any(t == "OPTION" for t, _ in c.symbol_queries()):
        raise ConfigError(
            "rest.symbols_inst_families",
            "OKX requires instFamily for OPTION: list them (e.g. [BTC-USD]) or subscribe to "
            "an option instrument",
        )


def _sinks(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if not raw:
        raise ConfigError("sinks", f"configure at least one sink: {', '.join(sorted(SINK_KINDS))}")
    out: dict[str, dict[str, Any]] = {}
    required = {"chdb": "path", "redis": "url", "jsonl": "path", "kafka": "bootstrap_servers"}
    for name, settings in raw.items():
        if name not in SINK_KINDS:
            raise ConfigError(
                f"sinks.{name}", f"unknown sink; known: {', '.join(sorted(SINK_KINDS))}"
            )
        settings = settings or {}
        if not isinstance(settings, dict):
            raise ConfigError(f"sinks.{name}", "expected a mapping of settings")
        key = required.get(name)
        if key is not None and not settings.get(key):
            raise ConfigError(f"sinks.{name}.{key}", "required")
        if name == "kafka":
            _kafka(settings)
        if name == "clickhouse" and "port" in settings:
            port = settings["port"]
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ConfigError("sinks.clickhouse.port", f"expected 1-65535, got {port!r}")
        out[name] = settings
    return out


KAFKA_KEYS = {
    "bootstrap_servers", "topic_prefix", "client_id", "acks", "idempotence", "compression",
    "linger_ms", "flush_timeout_s", "config",
}  # fmt: skip
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]*$")
_HOST_PORT = re.compile(r"^[^\s,:]+:\d{1,5}$")


def _kafka(k: dict[str, Any]) -> None:
    """sinks.kafka: checked here so a typo fails at start, not at the first batch."""
    p = "sinks.kafka."
    _check_unknown(k, KAFKA_KEYS, p)
    servers = k["bootstrap_servers"]
    listed = servers.split(",") if isinstance(servers, str) else servers
    if not isinstance(listed, list) or not all(
        isinstance(h, str) and _HOST_PORT.match(h.strip()) for h in listed
    ):
        raise ConfigError(
            f"{p}bootstrap_servers", f"expected host:port[,host:port], got {servers!r}"
        )
    prefix = _get(k, "topic_prefix", p, str, "okx.")
    if not _TOPIC_CHARS.match(prefix) or len(prefix) > 200:
        raise ConfigError(
            f"{p}topic_prefix",
            f"Kafka topics allow A-Z a-z 0-9 . _ - (at most 200 here), got {prefix!r}",
        )
    acks = k.get("acks", "all")
    if str(acks) not in ("0", "1", "-1", "all"):
        raise ConfigError(f"{p}acks", f"expected 0, 1, -1 or all, got {acks!r}")
    if _get(k, "idempotence", p, bool, True) and str(acks) not in ("all", "-1"):
        raise ConfigError(
            f"{p}acks", "idempotence (the default) needs acks: all; or set idempotence: false"
        )
    compression = _get(k, "compression", p, str, "lz4")
    if compression not in ("none", "gzip", "snappy", "lz4", "zstd"):
        raise ConfigError(f"{p}compression", "choose none, gzip, snappy, lz4 or zstd")
    if _get(k, "linger_ms", p, int, 5) < 0:
        raise ConfigError(f"{p}linger_ms", "must be >= 0")
    _positive(_get(k, "flush_timeout_s", p, float, 10.0), f"{p}flush_timeout_s")
    extra = _get(k, "config", p, dict, {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"{p}config.{key}", "librdkafka settings are scalars (see its CONFIGURATION.md)"
            )


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("<file>", f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("<file>", f"{path} is not valid YAML: {exc}") from None
    return parse_config(raw)
