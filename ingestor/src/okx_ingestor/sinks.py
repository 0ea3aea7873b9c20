"""Sinks: ClickHouse server, ClickHouse embedded (chdb), Redis latest state, JSON lines.

A sink's `write(batch)` either stores the whole batch, raises SinkUnavailable (a
transient failure: the batch goes to the spool and is retried in order) or raises
SinkRejected (a permanent failure such as an unknown table or a type mismatch: retrying
cannot help, so the batch goes to the dead-letter directory and the next batch is
tried). `Delivery` puts a spool and a dead-letter directory in front of a sink.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson

from .batcher import Batch, split_unencodable
from .schema import TABLES, Table, expand_row, row_to_json
from .spool import DeadLetter, Spool
from .supervise import Supervisor

log = logging.getLogger("okx_ingestor.sinks")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SinkUnavailable(RuntimeError):
    """The sink cannot take data now; spool the batch and retry later."""


class SinkRejected(RuntimeError):
    """The sink refused this batch for good (schema, types): dead-letter it, go on.

    `kind` groups rejections for logging and alerting, e.g. "clickhouse code 60".
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


# ClickHouse error codes a retry can fix: network, load, limits, replication, shutdown.
# Credentials/grants (192-194, 497, 516) are here too: every batch would fail alike, so
# the spool keeps them until the config is fixed instead of dead-lettering everything.
# Every other code (6 CANNOT_PARSE_TEXT, 27, 53 TYPE_MISMATCH, 60 UNKNOWN_TABLE,
# 81 UNKNOWN_DATABASE, 115 UNKNOWN_SETTING, ...) is permanent.
TRANSIENT_CODES = frozenset(
    {
        3, 32, 159, 160, 164, 173, 192, 193, 194, 201, 202, 203, 209, 210, 225, 236,
        241, 242, 243, 252, 285, 319, 394, 425, 439, 497, 516, 999, 1000,
    }
)  # fmt: skip
_CODE = re.compile(r"Code:\s*(\d+)")


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code of a driver or chdb exception, if it has one."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


def classify(sink: str, exc: BaseException, what: str) -> SinkUnavailable | SinkRejected:
    """Transient (spool and retry) or permanent (dead-letter) for a failed insert.

    An error without a code (connection lost, unknown failure) counts as transient:
    losing data to the dead-letter directory needs a definite answer from the server.
    """
    code = error_code(exc)
    if code is None or code in TRANSIENT_CODES:
        return SinkUnavailable(f"{what}: {exc}")
    return SinkRejected(f"{what} (permanent, code {code}): {exc}", f"{sink} code {code}")


class Sink(Protocol):
    name: str

    def write(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


def _table(batch: Batch) -> Table:
    try:
        return TABLES[batch.table.rpartition(".")[2]]
    except KeyError:
        raise ValueError(f"unknown table {batch.table!r}; known: {sorted(TABLES)}") from None


def _spec(batch: Batch, sink: str) -> Table:
    try:
        return _table(batch)
    except ValueError as exc:
        raise SinkRejected(str(exc), f"{sink} unknown table") from exc


def _columns(spec: Table, batch: Batch, sink: str) -> list[list[object]]:
    try:
        return to_columns(spec, batch.rows)
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
        raise SinkRejected(f"rows of {batch.table} malformed: {exc}", f"{sink} bad row") from exc


def _to_ms_dt(v: object) -> datetime | None:
    return None if v is None else _EPOCH + timedelta(milliseconds=v)  # type: ignore[arg-type]


def _to_us_dt(v: object) -> datetime | None:
    return None if v is None else _EPOCH + timedelta(microseconds=v)  # type: ignore[arg-type]


def _to_dec(v: object) -> Decimal | None:
    return None if v is None else Decimal(v)  # type: ignore[arg-type]


def _to_decs(v: object) -> list[Decimal]:
    return [Decimal(x) for x in v]  # type: ignore[attr-defined]


_CONVERT: dict[str, Callable[[object], object] | None] = {
    "ms": _to_ms_dt,
    "us": _to_us_dt,
    "dec": _to_dec,
    "decs": _to_decs,
    "str": None,
    "int": None,
    "ints": None,
}


def to_columns(table: Table, rows: list[tuple[object, ...]]) -> list[list[object]]:
    """Row tuples -> columns with ClickHouse-driver Python types (datetime, Decimal)."""
    if table.name == "book_l2":
        rows = [expand_row(table, r) for r in rows]
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else []
    for i, (_, kind) in enumerate(table.columns):
        conv = _CONVERT[kind]
        if conv is not None and columns:
            columns[i] = [conv(v) for v in columns[i]]
    return columns


class JsonLinesSink:
    """`{"table": ..., "row": {...}}` per row, the same format as `replay`."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab")

    def write(self, batch: Batch) -> None:
        spec = _table(batch)
        dumps = orjson.dumps
        self._fh.write(
            b"".join(
                dumps({"table": batch.table, "row": row_to_json(spec, row)}) + b"\n"
                for row in batch.rows
            )
        )
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class ClickHouseSink:
    """Columnar INSERT through clickhouse-driver with insert_deduplication_token."""

    name = "clickhouse"

    def __init__(self, settings: dict[str, Any]) -> None:
        from clickhouse_driver import Client  # imported lazily: optional at replay time

        self._client = Client(
            host=settings.get("host", "127.0.0.1"),
            port=int(settings.get("port", 9000)),
            user=settings.get("user", "default"),
            password=settings.get("password", ""),
            database=settings.get("database", "default"),
            connect_timeout=float(settings.get("connect_timeout_s", 3)),
            send_receive_timeout=float(settings.get("send_receive_timeout_s", 30)),
        )
        self._dedup = bool(settings.get("dedup_token", True))

    def write(self, batch: Batch) -> None:
        from clickhouse_driver.errors import Error as DriverError
        from clickhouse_driver.errors import NetworkError, ServerException

        spec = _spec(batch, self.name)
        if not spec.in_sql:
            return  # no such table in files/sql (yet): JSON lines sink keeps these rows
        columns = _columns(spec, batch, self.name)
        query = f"INSERT INTO {batch.table} ({', '.join(spec.column_names)}) VALUES"
        settings = {"insert_deduplication_token": batch.token} if self._dedup else {}
        try:
            self._client.execute(query, columns, columnar=True, settings=settings)
        except (NetworkError, OSError, EOFError) as exc:
            self._client.disconnect()
            raise SinkUnavailable(f"ClickHouse unreachable: {exc}") from exc
        except ServerException as exc:
            raise classify(self.name, exc, "ClickHouse refused the insert") from exc
        except DriverError as exc:
            self._client.disconnect()  # the connection may be mid-insert
            raise classify(self.name, exc, "ClickHouse driver error") from exc
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            self._client.disconnect()
            raise SinkRejected(
                f"ClickHouse driver cannot encode {batch.table}: {exc}", f"{self.name} encode"
            ) from exc

    def close(self) -> None:
        self._client.disconnect()


def _engine_modules(engine_dir: Path) -> tuple[Any, Any]:
    """Import the collection's migration engine (plugins/module_utils) from a path."""
    import importlib
    import sys

    if not (engine_dir / "migrations.py").exists():
        raise RuntimeError(
            f"no migration engine at {engine_dir}/migrations.py: set sinks.chdb.engine_dir to "
            "the collection's plugins/module_utils directory"
        )
    if str(engine_dir) not in sys.path:
        sys.path.insert(0, str(engine_dir))
    return importlib.import_module("migrations"), importlib.import_module("clickhouse")


class ChdbSink:
    """ClickHouse embedded (chdb) at a path on disk, with files/sql applied to it.

    When `sql_dir` is given, the collection's migration engine
    (plugins/module_utils/migrations.py, the same one clickhouse_migrate uses) applies
    files/sql first; without it the tables must already exist.
    """

    name = "chdb"

    def __init__(
        self,
        path: Path,
        *,
        sql_dir: Path | None = None,
        engine_dir: Path | None = None,
        database: str = "hft_data",
        variables: dict[str, str] | None = None,
    ) -> None:
        try:
            from chdb import session as chs
        except ImportError as exc:
            raise RuntimeError(
                "the chdb sink needs the chdb-core package: pip install 'okx-hft-ingestor[chdb]'"
            ) from exc
        path.mkdir(parents=True, exist_ok=True)
        self._session = chs.Session(str(path))
        if sql_dir is not None:
            engine_dir = engine_dir or sql_dir.parents[1] / "plugins" / "module_utils"
            self.migrate(sql_dir, engine_dir, database, variables or {})

    def migrate(
        self, sql_dir: Path, engine_dir: Path, database: str, variables: dict[str, str]
    ) -> list[str]:
        """Apply files/sql; `variables` override the engine's (e.g. ttl_raw_days).

        Note: rows older than the TTL of files/sql (ttl_raw_days, default 30) are dropped
        by ClickHouse at insert time; raise ttl_raw_days to load old recordings, keeping
        now + TTL before 2106 (the DateTime limit): 10000 days works.
        """
        migrations, clickhouse = _engine_modules(engine_dir)
        merged = {**migrations.default_variables(data_db=database), **variables}
        options = migrations.Options(path=sql_dir, variables=merged, lock_timeout=10)
        result = migrations.migrate(clickhouse.ChdbExecutor(self._session), options)
        return list(result.applied)

    def query(self, sql: str, fmt: str = "TSV") -> str:
        return str(self._session.query(sql, fmt))

    def write(self, batch: Batch) -> None:
        spec = _spec(batch, self.name)
        if not spec.in_sql:
            return  # no such table in files/sql (yet): JSON lines sink keeps these rows
        try:
            body = b"\n".join(orjson.dumps(row_to_json(spec, row)) for row in batch.rows)
        except (TypeError, ValueError, IndexError, orjson.JSONEncodeError) as exc:
            raise SinkRejected(f"rows of {batch.table} malformed: {exc}", "chdb encode") from exc
        batch.ensure_token()
        try:
            self._session.query(
                f"INSERT INTO {batch.table} ({', '.join(spec.column_names)}) SETTINGS "
                f"insert_deduplication_token='{batch.token}' FORMAT JSONEachRow\n" + body.decode()
            )
        except Exception as exc:  # chdb raises plain RuntimeError-like errors with "Code: N"
            raise classify(self.name, exc, "chdb insert failed") from exc

    def close(self) -> None:
        self._session.close()


# Table -> the kind in its Redis key: the newest row per instrument.
LATEST_KINDS = {
    "bbo": "bbo",
    "raw_ticks": "trade",
    "open_interest": "open-interest",
    "price_limits": "price-limit",
}
LATEST_TABLES = frozenset(LATEST_KINDS)


class RedisLatestSink:
    """Latest BBO and last trade per instrument, as Redis hashes.

    Keys: `<prefix>:bbo:<instId>` (bid_px, bid_sz, ask_px, ask_sz, ts, seq_id, channel,
    received_at), `<prefix>:trade:<instId>` (trade_id, price, size, side, ts,
    received_at), `<prefix>:open-interest:<instId>` and `<prefix>:price-limit:<instId>`
    (their tables' columns but inst_id). RedisLatestWriter decides what to write (the
    newest row per key, per event-loop iteration) and calls write_latest from its thread.
    """

    name = "redis"

    def __init__(self, url: str, prefix: str = "okx") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def key_and_mapping(self, short: str, row: tuple[object, ...]) -> tuple[str, dict[str, str]]:
        """The Redis hash of one bbo / raw_ticks row: (key, field -> text)."""
        fields = row_to_json(TABLES[short], row)
        inst = str(fields.pop("inst_id"))
        kind = LATEST_KINDS[short]
        mapping = {k: "" if v is None else str(v) for k, v in fields.items()}
        return f"{self.prefix}:{kind}:{inst}", mapping

    def write_latest(self, latest: dict[str, dict[str, str]]) -> None:
        """One pipelined HSET per key (no transaction)."""
        import redis

        if not latest:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key, mapping in latest.items():
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise SinkUnavailable(f"Redis unreachable: {exc}") from exc
        except redis.ResponseError as exc:  # e.g. WRONGTYPE: the key holds another type
            raise SinkRejected(f"Redis refused the write: {exc}", "redis response") from exc

    def close(self) -> None:
        self._redis.close()


# Table -> topic suffix, for one Kafka topic per channel. book_l2 rows use their own
# channel (books, books-l2-tbt, books50-l2-tbt); bbo rows, from several channels, share
# "bbo" (the row's `channel` column tells them apart).
KAFKA_CHANNELS = {
    "raw_ticks": "trades",
    "bbo": "bbo",
    "tickers": "tickers",
    "funding_rates": "funding-rate",
    "mark_prices": "mark-price",
    "index_tickers": "index-tickers",
    "symbols": "instruments",
    "open_interest": "open-interest",
    "price_limits": "price-limit",
    "estimated_prices": "estimated-price",
    "liquidations": "liquidation-orders",
    "option_summaries": "opt-summary",
    "system_status": "status",
}
# librdkafka errors a retry cannot fix: the batch is dead-lettered instead of spooled.
# Credentials and ACLs (_AUTHENTICATION, TOPIC_AUTHORIZATION_FAILED) are not here: every
# batch would fail alike, so the spool keeps them until the config is fixed, as for
# ClickHouse's grants.
_KAFKA_PERMANENT = frozenset(
    {"MSG_SIZE_TOO_LARGE", "INVALID_MSG", "INVALID_MSG_SIZE", "TOPIC_EXCEPTION",
     "INVALID_RECORD", "_MSG_SIZE_TOO_LARGE", "_INVALID_ARG"}
)  # fmt: skip


def kafka_topic(prefix: str, spec: Table, row: tuple[object, ...]) -> str:
    """`<prefix><channel>`: one topic per OKX channel."""
    if spec.name == "book_l2":
        return f"{prefix}{row[1]}"
    return f"{prefix}{KAFKA_CHANNELS[spec.name]}"


def kafka_messages(prefix: str, batch: Batch) -> list[tuple[str, bytes, bytes]]:
    """(topic, key = instId, value = the row as JSON, as in replay) per row of a batch."""
    spec = _spec(batch, "kafka")
    out = []
    try:
        for row in batch.rows:
            value = row_to_json(spec, row)
            out.append((kafka_topic(prefix, spec, row), str(row[0]).encode(), orjson.dumps(value)))
    except (TypeError, ValueError, IndexError, KeyError, orjson.JSONEncodeError) as exc:
        raise SinkRejected(f"rows of {batch.table} malformed: {exc}", "kafka encode") from exc
    return out


def kafka_producer_config(settings: dict[str, Any]) -> dict[str, object]:
    """librdkafka settings from sinks.kafka (validated by config.py)."""
    servers = settings["bootstrap_servers"]
    conf: dict[str, object] = {
        "bootstrap.servers": servers if isinstance(servers, str) else ",".join(servers),
        "client.id": settings.get("client_id", "okx-ingestor"),
        "acks": str(settings.get("acks", "all")),
        "enable.idempotence": bool(settings.get("idempotence", True)),
        "compression.type": settings.get("compression", "lz4"),
        "linger.ms": int(settings.get("linger_ms", 5)),
    }
    conf.update(settings.get("config") or {})
    return conf


class KafkaSink:
    """One topic per channel (`<topic_prefix><channel>`), key = instId, value = row JSON.

    write() produces the whole batch and waits for the broker's acknowledgements
    (`flush_timeout_s`): a batch is stored or it raises, so the spool can hold it while
    Kafka is down. On a timeout the batch's messages still queued locally are purged, so
    the spool holds the only copy (a retry neither duplicates them nor fills the queue).
    Delivery is at-least-once: messages already sent when a batch failed may still be
    stored, so a re-sent batch can repeat rows; consumers deduplicate by
    (topic, key, ts/trade_id).
    """

    name = "kafka"

    def __init__(
        self,
        settings: dict[str, Any],
        producer_factory: Callable[[dict[str, object]], Any] | None = None,
    ) -> None:
        if producer_factory is None:
            try:
                from confluent_kafka import Producer
            except ImportError as exc:
                raise RuntimeError(
                    "the kafka sink needs confluent-kafka: pip install 'okx-hft-ingestor[kafka]'"
                ) from exc
            producer_factory = Producer
        self.prefix = str(settings.get("topic_prefix", "okx."))
        self.flush_timeout_s = float(settings.get("flush_timeout_s", 10))
        # The client's own errors (authentication, all brokers down) reach no delivery
        # report until the message times out: the last one explains a timeout.
        self.last_client_error: Any = None
        conf = {**kafka_producer_config(settings), "error_cb": self._client_error}
        self._producer = producer_factory(conf)

    def _client_error(self, err: Any) -> None:
        self.last_client_error = err

    def write(self, batch: Batch) -> None:
        messages = kafka_messages(self.prefix, batch)
        errors: list[Any] = []
        acked = [0]

        def delivered(err: Any, _msg: Any) -> None:
            if err is None:
                acked[0] += 1
            elif err.name() not in ("_PURGE_QUEUE", "_PURGE_INFLIGHT"):
                errors.append(err)

        for topic, key, value in messages:
            self._produce(topic, key, value, delivered, batch.table)
        self._producer.flush(self.flush_timeout_s)
        if errors:
            raise _kafka_error(errors[0], len(errors), batch.table)
        if acked[0] < len(messages):
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.poll(0)
            raise self._not_acknowledged(len(messages) - acked[0], batch.table)

    def _produce(self, topic: str, key: bytes, value: bytes, delivered: Any, table: str) -> None:
        producer = self._producer
        try:
            producer.produce(topic, value=value, key=key, on_delivery=delivered)
        except BufferError:  # local queue full: wait for room, then retry once
            producer.flush(self.flush_timeout_s)
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
            except BufferError:
                producer.purge(in_queue=True, in_flight=False)
                producer.poll(0)
                raise SinkUnavailable(
                    f"Kafka's local queue stayed full for {self.flush_timeout_s} s while "
                    f"writing {table}: the brokers do not take messages"
                ) from None
        producer.poll(0)

    def _not_acknowledged(self, count: int, table: str) -> SinkUnavailable:
        cause = self.last_client_error
        why = f" (the client's last error: {cause})" if cause is not None else ""
        return SinkUnavailable(
            f"Kafka did not acknowledge {count} messages of {table} within "
            f"{self.flush_timeout_s} s{why}; check sinks.kafka.bootstrap_servers, the "
            "credentials in sinks.kafka.config, the topics and the brokers"
        )

    def close(self) -> None:
        self._producer.flush(self.flush_timeout_s)


def _kafka_error(err: Any, count: int, table: str) -> SinkUnavailable | SinkRejected:
    name = err.name() if hasattr(err, "name") else str(err)
    text = f"Kafka refused {count} messages of {table}: {err}"
    fatal = bool(err.fatal()) if hasattr(err, "fatal") else False
    if fatal or name in _KAFKA_PERMANENT:
        return SinkRejected(text, f"kafka {name}")
    return SinkUnavailable(text)


class RedisLatestWriter(threading.Thread):
    """Latest BBO / last trade per instrument to Redis, per message, off the event loop.

    On the event loop, `mark(table, row)` only stores the row in a dict keyed by
    (table, instId) and schedules `handoff` with `loop.call_soon` (once per loop
    iteration). `handoff` merges that dict into the thread's pending dict under a lock
    (newer rows replace older ones) and wakes the thread, which sends one pipelined
    HSET per dirty key. While Redis is down or slow only the newest row per key waits
    (memory bounded by the number of instruments); failures are counted and retried
    with backoff, never on the receive path.
    """

    def __init__(self, sink: RedisLatestSink, supervisor: Supervisor | None = None) -> None:
        super().__init__(name="okx-redis-latest", daemon=True)
        self.sink = sink
        # A row it cannot write is quarantined alone; an error escaping the loop fails
        # the stage (the service exits non-zero).
        self.supervisor = supervisor or Supervisor()
        self.dirty: dict[tuple[str, str], tuple[str, tuple[object, ...]]] = {}
        self._pending: dict[tuple[str, str], tuple[str, tuple[object, ...]]] = {}
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._stopping = False
        self.writes = 0  # pipelines sent
        self.keys_written = 0
        self.errors = 0
        self.up = True

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def mark(self, short: str, row: tuple[object, ...]) -> None:
        """Event loop, per bbo/trade row: remember the newest row of its instrument."""
        self.dirty[(short, row[0])] = (short, row)  # type: ignore[index]
        if not self._scheduled:
            self._scheduled = True
            if self._loop is not None:
                self._loop.call_soon(self.handoff)
            else:
                self.handoff()

    def handoff(self) -> None:
        """Event loop, once per iteration: pass the dirty rows to the writer thread."""
        self._scheduled = False
        if not self.dirty:
            return
        dirty, self.dirty = self.dirty, {}
        with self._cond:
            self._pending.update(dirty)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def run(self) -> None:
        self.supervisor.run_thread("redis", self._serve)

    def _serve(self) -> None:
        backoff = 0.2
        progress = self.supervisor.progress
        while True:
            progress("redis")
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait(1.0)  # idle: still reports progress every second
                    progress("redis")
                if not self._pending and self._stopping:
                    return
                work, self._pending = self._pending, {}
            if self._send(work):
                backoff = 0.2
                continue
            with self._cond:  # keep a failed row only if no newer one came meanwhile
                for key, value in work.items():
                    self._pending.setdefault(key, value)
                retry_at = time.monotonic() + backoff
                while not self._stopping and (left := retry_at - time.monotonic()) > 0:
                    self._cond.wait(left)  # new rows only replace pending ones meanwhile
                if self._stopping:
                    return
            backoff = min(backoff * 2, 5.0)

    def _send(self, work: dict[tuple[str, str], tuple[str, tuple[object, ...]]]) -> bool:
        latest: dict[str, dict[str, str]] = {}
        for short, row in work.values():
            try:
                key, mapping = self.sink.key_and_mapping(short, row)
            except Exception as exc:  # a malformed row: that row only is set aside
                self.errors += 1
                self.supervisor.quarantine.rows("redis_unwritable_row", short, [row], repr(exc))
                continue
            latest[key] = mapping
        if not latest:
            return True
        try:
            self.sink.write_latest(latest)
        except (SinkUnavailable, SinkRejected) as exc:
            self.errors += 1
            if self.up:
                log.warning("Redis latest-state write failed; keeping only the newest rows",
                            extra={"sink": self.sink.name, "error": str(exc)})  # fmt: skip
            self.up = False
            return isinstance(exc, SinkRejected)  # a rejected write is not retried
        if not self.up:
            log.info("Redis latest-state writes resumed", extra={"sink": self.sink.name})
        self.up = True
        self.writes += 1
        self.keys_written += len(latest)
        return True

    def stop(self, timeout: float) -> bool:
        """Flush what is dirty (one last try), then end the thread."""
        self.handoff()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.join(timeout)
        return not self.is_alive()


class Delivery:
    """One sink, optionally with a spool in front; keeps batch order.

    While the spool holds anything, new batches go behind it, so the sink always sees
    batches in the order they were made.
    """

    def __init__(
        self, sink: Sink, spool: Spool | None = None, dead_letter: DeadLetter | None = None
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.dead_letter = dead_letter
        self.dead_letter_batches = 0  # rejected for good (stored, or dropped if full/none)
        self.dead_letter_rows = 0
        self._logged_kinds: set[str] = set()
        self.delivered_batches = 0
        self.delivered_rows = 0
        self.failures = 0
        self.dropped_batches = 0  # no spool and the sink was down
        self.unencodable_rows = 0  # taken out of a batch by submit()
        self.up = True
        self.retry_at = 0.0  # monotonic time before which a down sink is not retried
        self.retry_s = 0.5
        self.max_retry_s = 30.0

    def submit(self, batch: Batch) -> None:
        try:
            batch.ensure_token()
        except TypeError:  # a row orjson cannot encode: without it, the rest goes on
            bad = split_unencodable(batch)
            self.unencodable_rows += len(bad)
            log.error(
                "rows that cannot be encoded were dropped from the batch (the writer "
                "quarantines them before this; see okx_quarantined_total)",
                extra={"sink": self.sink.name, "table": batch.table, "rows": len(bad)},
            )
        if self.spool is not None and not self.spool.empty():
            self.spool.append(batch)
            return
        if not self.up and time.monotonic() < self.retry_at:
            # Down and not due for a retry: do not block the writer on a dead sink.
            self.keep(batch)
            return
        if not self._try(batch):
            self.keep(batch)

    def keep(self, batch: Batch) -> None:
        """For later: into the spool, or counted as dropped when the sink has none."""
        if self.spool is not None:
            self.spool.append(batch)
        else:
            self.dropped_batches += 1

    def drain(self, limit: int = 100) -> int:
        """Deliver up to `limit` spooled batches in order; stop at the first failure."""
        if self.spool is None or self.spool.empty():
            return 0
        if not self.up and time.monotonic() < self.retry_at:
            return 0
        sent = 0
        for batch in self.spool.peek():
            if sent >= limit or not self._try(batch):
                break
            self.spool.ack()
            sent += 1
        return sent

    def _try(self, batch: Batch) -> bool:
        """True when the batch is done with (stored, or dead-lettered); False to retry."""
        try:
            self.sink.write(batch)
        except SinkRejected as exc:
            self._reject(batch, exc)
            return True
        except SinkUnavailable as exc:
            self._down(exc)
            return False
        except Exception as exc:  # a bug in a sink must not kill the writer thread
            kind = f"{self.sink.name} unexpected {type(exc).__name__}"
            if kind not in self._logged_kinds:
                log.exception("unexpected sink error", extra={"sink": self.sink.name})
            self._reject(batch, SinkRejected(f"{kind}: {exc}", kind))
            return True
        if not self.up:
            log.info("sink back", extra={"sink": self.sink.name})
        self.up = True
        self.retry_s = 0.5
        self.delivered_batches += 1
        self.delivered_rows += len(batch.rows)
        return True

    def _down(self, exc: SinkUnavailable) -> None:
        self.failures += 1
        self.retry_at = time.monotonic() + self.retry_s
        self.retry_s = min(self.retry_s * 2, self.max_retry_s)
        if self.up:
            log.warning("sink down; spooling", extra={"sink": self.sink.name, "error": str(exc)})
        self.up = False

    def _reject(self, batch: Batch, exc: SinkRejected) -> None:
        """A permanent failure: keep the batch aside, count it, log each kind once."""
        self.up = True  # the sink answered; only this batch is bad
        self.retry_s = 0.5
        self.dead_letter_batches += 1
        self.dead_letter_rows += len(batch.rows)
        stored = False
        if self.dead_letter is not None:
            try:
                stored = self.dead_letter.put(
                    batch,
                    sink=self.sink.name,
                    kind=exc.kind,
                    error=str(exc),
                    now_us=time.time_ns() // 1000,
                )
            except (OSError, TypeError, ValueError) as err:  # disk full, unencodable rows
                self.dead_letter.dropped += 1
                log.error(
                    "cannot write the dead-letter file; batch lost",
                    extra={"sink": self.sink.name, "token": batch.token, "error": str(err)},
                )
        if exc.kind not in self._logged_kinds:
            self._logged_kinds.add(exc.kind)
            where = str(self.dead_letter.dir) if stored and self.dead_letter else "nowhere (full)"
            log.error(
                "batch rejected for good; dead-lettered, continuing with the next batch "
                "(further rejections of this kind are only counted: "
                "okx_sink_dead_letter_batches_total)",
                extra={
                    "sink": self.sink.name,
                    "kind": exc.kind,
                    "table": batch.table,
                    "token": batch.token,
                    "dead_letter": where if self.dead_letter is not None else "none (no spool)",
                    "error": str(exc),
                },
            )
