# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""ClickHouse schema migration engine: discover, order, render, split, checksum,
bookkeeping and lock.

No Ansible import here: the same engine runs under the ``clickhouse_migrate`` module
(clickhouse-driver against a server) and under ``scripts/schema-dev.py`` (chdb,
embedded). It talks to ClickHouse only through the two-method :class:`Executor`.

Migration files are named ``NNNN_description.sql`` (four or more digits, lower-case
description). A file may hold several statements separated by ``;``. Placeholders
``${name}`` are replaced by variables before execution; ``$${`` produces a literal
``${``. ClickHouse's own macros (``{shard}``, ``{replica}``) are left untouched.

The bookkeeping SQL below is deliberately old-fashioned (DateTime, MergeTree() with
ORDER BY, argMax instead of FINAL) so it runs on ClickHouse 18.16 as well as 26.x.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

FILE_PATTERN = re.compile(r"^(?P<version>\d{4,})_(?P<desc>[a-z0-9][a-z0-9_]*)\.sql$")
PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCK_NAME = "schema"


class MigrationError(Exception):
    """Any failure the user has to act on; the message says what to do."""


class TemplateError(MigrationError):
    """A placeholder in a migration file has no value."""


class VariableError(MigrationError):
    """A variable has a value the schema cannot use (e.g. a TTL beyond DateTime's range)."""


class ChecksumMismatchError(MigrationError):
    """An applied migration file was edited afterwards."""


class LockTimeoutError(MigrationError):
    """Another run holds the migration lock."""


class StatementError(MigrationError):
    """A statement of a migration failed on the server."""


class Executor(Protocol):
    """The engine's only view of ClickHouse."""

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a SELECT and return its rows."""


@dataclass(frozen=True)
class Statement:
    """One statement of a migration file, with its 1-based starting line."""

    sql: str
    line: int


@dataclass(frozen=True)
class Migration:
    """A migration file on disk."""

    version: int
    name: str
    path: Path
    text: str
    checksum: str


@dataclass(frozen=True)
class AppliedRecord:
    """A row of the bookkeeping table."""

    version: int
    name: str
    checksum: str


@dataclass(frozen=True)
class Progress:
    """How many statements of a migration were applied by an earlier, failed run."""

    version: int
    checksum: str
    statements_done: int


@dataclass
class MigrationResult:
    """What a run did (or, in check mode, would do)."""

    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    current_version: int | None = None
    statements: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """How to run: where the files are, what to render, how to lock."""

    path: Path
    database: str = "hft_meta"
    variables: Mapping[str, str] = field(default_factory=dict)
    target: int | None = None
    allow_checksum_change: bool = False
    check_mode: bool = False
    lock_timeout: float = 60.0
    lock_ttl: int = 600
    owner: str = ""


# ---------------------------------------------------------------- discovery


def checksum(text: str) -> str:
    """sha256 of the file content as stored (before rendering)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def discover(path: Path) -> list[Migration]:
    """Migration files of ``path`` ordered by version; rejects look-alikes and duplicates."""
    if not path.is_dir():
        raise MigrationError(f"migration directory {path} does not exist or is not a directory")
    found: dict[int, Migration] = {}
    for entry in sorted(path.iterdir()):
        if entry.suffix != ".sql":
            continue
        match = FILE_PATTERN.match(entry.name)
        if match is None:
            raise MigrationError(
                f"{entry.name}: migration files must be named NNNN_description.sql "
                "(digits, underscore, lower-case description); rename it"
            )
        migration = _load(entry, int(match.group("version")))
        if migration.version in found:
            other = found[migration.version].name
            raise MigrationError(
                f"{entry.name} and {other} share version {migration.version}; renumber one"
            )
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def _load(entry: Path, version: int) -> Migration:
    text = entry.read_text(encoding="utf-8")
    return Migration(
        version=version, name=entry.name, path=entry, text=text, checksum=checksum(text)
    )


# ---------------------------------------------------------------- rendering


def render(text: str, variables: Mapping[str, str], source: str = "<sql>") -> str:
    """Replace ``${name}`` placeholders; an unknown name is an error naming file and line."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        line = text.count("\n", 0, match.start()) + 1
        known = ", ".join(sorted(variables)) or "none"
        raise TemplateError(
            f"{source} line {line}: unknown variable ${{{name}}}; pass it in `variables` "
            f"(known: {known})"
        )

    return PLACEHOLDER.sub(substitute, text)


# ClickHouse's DateTime ends on 2106-02-07; `toDateTime(ts) + INTERVAL n DAY` past it
# wraps around, and the TTL would then expire rows at once. From now (2026) that leaves
# about 29,000 days.
MAX_TTL_DAYS = 28999
TTL_VARIABLES = ("ttl_raw_days", "ttl_agg_days")


def check_ttl_days(variables: Mapping[str, object]) -> None:
    """Fail, naming the variable, when a TTL in days is not 1..MAX_TTL_DAYS."""
    for name in TTL_VARIABLES:
        if name not in variables:
            continue
        raw = variables[name]
        try:
            days = int(str(raw).strip())
        except ValueError:
            raise VariableError(f"{name} must be a whole number of days, got {raw!r}") from None
        if not 0 < days <= MAX_TTL_DAYS:
            raise VariableError(
                f"{name} = {days} is out of range: use 1-{MAX_TTL_DAYS} days. ClickHouse's "
                f"DateTime ends in 2106, so a TTL of {days} days would wrap around and expire "
                f"rows at once. Lower {name} (module option {name}, or "
                f"clickhouse_migrate_{name} in playbooks/migrate.yml)."
            )


def default_variables(
    data_db: str = "hft_data",
    analytics_db: str = "hft_analytics",
    cluster: str | None = None,
    ttl_raw_days: int = 30,
    ttl_agg_days: int = 365,
) -> dict[str, str]:
    """The variables files/sql uses, with cluster-dependent parts derived from ``cluster``."""
    return {
        "db_data": data_db,
        "db_analytics": analytics_db,
        "on_cluster": f"ON CLUSTER {quote_identifier(cluster)}" if cluster else "",
        "replicated": "Replicated" if cluster else "",
        "ttl_raw_days": str(int(ttl_raw_days)),
        "ttl_agg_days": str(int(ttl_agg_days)),
    }


# ---------------------------------------------------------------- splitting


def split_statements(text: str) -> list[Statement]:
    """Split SQL on top-level ``;``, respecting quotes, backticks and comments.

    Comment-only fragments are dropped. Each statement keeps its text verbatim.
    """
    statements: list[Statement] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            i = _skip_quoted(text, i, ch)
        elif text.startswith("--", i):
            i = _skip_line_comment(text, i)
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif ch == ";":
            _append_statement(statements, text, start, i)
            start = i = i + 1
        else:
            i += 1
    _append_statement(statements, text, start, n)
    return statements


def _skip_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the closing quote; backslash escapes and doubled quotes allowed."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if text.startswith(quote * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    line = text.count("\n", 0, i) + 1
    raise MigrationError(f"line {line}: unterminated {quote} quote; close it")


def _skip_line_comment(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end == -1 else end + 1


def _skip_block_comment(text: str, i: int) -> int:
    """ClickHouse allows nested /* */ comments."""
    depth = 0
    j = i
    while j < len(text):
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    line = text.count("\n", 0, i) + 1
    raise MigrationError(f"line {line}: unterminated /* comment; close it")


def _append_statement(statements: list[Statement], text: str, start: int, end: int) -> None:
    """Keep the chunk from its first code character (leading comments dropped)."""
    chunk = text[start:end]
    lead = _code_start(chunk)
    if lead is None:
        return
    line = text.count("\n", 0, start + lead) + 1
    statements.append(Statement(sql=chunk[lead:].strip(), line=line))


def _code_start(chunk: str) -> int | None:
    """Index of the first character that is neither whitespace nor comment."""
    i = 0
    while i < len(chunk):
        if chunk[i].isspace():
            i += 1
        elif chunk.startswith("--", i):
            i = _skip_line_comment(chunk, i)
        elif chunk.startswith("/*", i):
            i = _skip_block_comment(chunk, i)
        else:
            return i
    return None


def prepare(migration: Migration, variables: Mapping[str, str]) -> list[Statement]:
    """Split a migration and render each statement; errors name the file."""
    try:
        parts = split_statements(migration.text)
    except MigrationError as exc:
        raise MigrationError(f"{migration.name}: {exc}") from exc
    rendered = []
    for part in parts:
        sql = render(part.sql, variables, source=migration.name)
        rendered.append(Statement(sql=sql, line=part.line))
    if not rendered:
        raise MigrationError(f"{migration.name} holds no statement; add one or delete the file")
    return rendered


# ---------------------------------------------------------------- SQL literals


def quote_identifier(name: str) -> str:
    """Backquote an identifier for ClickHouse."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------- bookkeeping


class Bookkeeping:
    """The engine's tables in ``database``; valid SQL on ClickHouse 18.16 and 26.x."""

    def __init__(self, executor: Executor, database: str) -> None:
        if not IDENTIFIER.match(database):
            raise MigrationError(
                f"bookkeeping database name {database!r} must be a plain identifier "
                "(letters, digits, underscore)"
            )
        self.executor = executor
        self.database = database
        self.applied_table = f"{database}.schema_migrations"
        self.progress_table = f"{database}.schema_migrations_progress"
        self.lock_table = f"{database}.schema_migrations_lock"

    def exists(self) -> bool:
        rows = self.executor.query(f"EXISTS TABLE {self.applied_table}")
        return bool(rows) and int(rows[0][0]) == 1

    def ensure(self) -> None:
        for sql in self._ddl():
            self.executor.execute(sql)

    def _ddl(self) -> list[str]:
        return [
            f"CREATE DATABASE IF NOT EXISTS {self.database}",
            f"CREATE TABLE IF NOT EXISTS {self.applied_table} ("
            " version UInt32, name String, checksum String, applied_at DateTime,"
            " duration_ms UInt64, applied_by String, seq UInt64"
            ") ENGINE = ReplacingMergeTree(seq) ORDER BY version",
            f"CREATE TABLE IF NOT EXISTS {self.progress_table} ("
            " version UInt32, checksum String, statements_done UInt32,"
            " statements_total UInt32, updated_at DateTime, seq UInt64"
            ") ENGINE = ReplacingMergeTree(seq) ORDER BY version",
            f"CREATE TABLE IF NOT EXISTS {self.lock_table} ("
            " lock_name String, token String, owner String, event String,"
            " created_at DateTime, expires_at DateTime"
            ") ENGINE = MergeTree() ORDER BY (lock_name, token)",
        ]

    def applied(self) -> dict[int, AppliedRecord]:
        rows = self.executor.query(
            "SELECT version, argMax(name, seq), argMax(checksum, seq) "
            f"FROM {self.applied_table} GROUP BY version ORDER BY version"
        )
        return {int(v): AppliedRecord(int(v), str(n), str(c)) for v, n, c in rows}

    def progress(self) -> dict[int, Progress]:
        rows = self.executor.query(
            "SELECT version, argMax(checksum, seq), argMax(statements_done, seq) "
            f"FROM {self.progress_table} GROUP BY version"
        )
        return {int(v): Progress(int(v), str(c), int(d)) for v, c, d in rows}

    def record_progress(self, migration: Migration, done: int, total: int) -> None:
        self.executor.execute(
            f"INSERT INTO {self.progress_table} "
            "(version, checksum, statements_done, statements_total, updated_at, seq) "
            f"SELECT {migration.version}, {quote_string(migration.checksum)}, {done}, "
            f"{total}, now(), {time.time_ns()}"
        )

    def record_applied(self, migration: Migration, duration_ms: int, owner: str) -> None:
        self.executor.execute(
            f"INSERT INTO {self.applied_table} "
            "(version, name, checksum, applied_at, duration_ms, applied_by, seq) "
            f"SELECT {migration.version}, {quote_string(migration.name)}, "
            f"{quote_string(migration.checksum)}, now(), {int(duration_ms)}, "
            f"{quote_string(owner)}, {time.time_ns()}"
        )


# ---------------------------------------------------------------- lock


@dataclass(frozen=True)
class LockHolder:
    """A live claim on the lock."""

    token: str
    owner: str
    expires_at: str


class Lock:
    """A cooperative lock held as rows of the lock table.

    Acquire: insert a claim, then read every live claim (not released, not expired).
    If any other claim is live, withdraw ours and retry after a random pause. Two runs
    can both withdraw, but they can never both win: each reads after its own insert
    became visible, so the later reader always sees the earlier claim. A claim
    expires ``ttl`` seconds after its last renewal (each applied statement renews),
    so a crashed run blocks others for at most ``ttl`` seconds.
    """

    def __init__(self, book: Bookkeeping, owner: str, ttl: int) -> None:
        self.book = book
        self.owner = owner
        self.ttl = max(int(ttl), 1)
        self.token = ""

    def acquire(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.token = uuid.uuid4().hex  # a withdrawn token stays released: never reuse it
            self._event("claim")
            others = [h for h in self.holders() if h.token != self.token]
            if not others:
                return
            self._event("release")
            if time.monotonic() >= deadline:
                raise LockTimeoutError(_lock_message(others[0], timeout, self.book.lock_table))
            sleep(random.uniform(0.1, 0.5))

    def renew(self) -> None:
        self._event("renew")

    def release(self) -> None:
        self._event("release")

    def holders(self) -> list[LockHolder]:
        rows = self.book.executor.query(
            "SELECT token, any(owner), toString(max(expires_at)) AS exp "
            f"FROM {self.book.lock_table} WHERE lock_name = {quote_string(LOCK_NAME)} "
            "GROUP BY token "
            "HAVING sum(event = 'release') = 0 AND max(expires_at) > now()"
        )
        return [LockHolder(str(t), str(o), str(e)) for t, o, e in rows]

    def _event(self, event: str) -> None:
        self.book.executor.execute(
            f"INSERT INTO {self.book.lock_table} "
            "(lock_name, token, owner, event, created_at, expires_at) "
            f"SELECT {quote_string(LOCK_NAME)}, {quote_string(self.token)}, "
            f"{quote_string(self.owner)}, {quote_string(event)}, now(), "
            f"now() + {self.ttl}"
        )


def _lock_message(holder: LockHolder, timeout: float, table: str) -> str:
    return (
        f"another migration run holds the lock: owner {holder.owner!r}, expires at "
        f"{holder.expires_at} UTC (server time); waited {timeout:g}s. Let that run finish, "
        f"raise lock_timeout, or if it died wait for the expiry (or insert a 'release' "
        f"row for token {holder.token!r} into {table})"
    )


# ---------------------------------------------------------------- planning


def default_owner() -> str:
    """Who applies: user@host:pid, stored as applied_by and as the lock owner."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def verify_checksums(
    migrations: Iterable[Migration],
    applied: Mapping[int, AppliedRecord],
    allow_change: bool,
) -> list[str]:
    """Fail on an edited applied file unless allowed; returns warnings."""
    warnings = []
    on_disk = {m.version: m for m in migrations}
    for version, record in sorted(applied.items()):
        migration = on_disk.get(version)
        if migration is None:
            warnings.append(f"{record.name} is recorded as applied but no longer on disk")
            continue
        if migration.checksum == record.checksum:
            continue
        message = (
            f"{migration.name} was changed after it was applied (checksum "
            f"{record.checksum[:12]}… recorded, {migration.checksum[:12]}… on disk)"
        )
        if not allow_change:
            raise ChecksumMismatchError(
                message + "; restore the file and put the change in a new migration, "
                "or set allow_checksum_change to accept the edit (it is not re-applied)"
            )
        warnings.append(message + "; accepted because allow_checksum_change is set")
    return warnings


def select_pending(
    migrations: Iterable[Migration], applied: Mapping[int, AppliedRecord], target: int | None
) -> list[Migration]:
    """Files not yet applied, up to ``target`` inclusive, in version order."""
    current = max(applied, default=None)
    if target is not None and current is not None and target < current:
        raise MigrationError(
            f"target {target} is below the applied version {current}; this engine does not "
            "roll back: write a new migration that undoes the change"
        )
    return [
        m
        for m in migrations
        if m.version not in applied and (target is None or m.version <= target)
    ]


# ---------------------------------------------------------------- running


def migrate(executor: Executor, options: Options) -> MigrationResult:
    """Apply pending migrations (or, in check mode, only report them)."""
    check_ttl_days(options.variables)
    migrations = discover(options.path)
    book = Bookkeeping(executor, options.database)
    owner = options.owner or default_owner()
    if options.check_mode:
        return _plan(book, migrations, options)
    book.ensure()
    lock = Lock(book, owner, options.lock_ttl)
    lock.acquire(options.lock_timeout)
    try:
        return _apply_all(book, lock, migrations, options, owner)
    finally:
        lock.release()


def _plan(book: Bookkeeping, migrations: list[Migration], options: Options) -> MigrationResult:
    applied = book.applied() if book.exists() else {}
    result = MigrationResult(current_version=max(applied, default=None))
    result.warnings = verify_checksums(migrations, applied, options.allow_checksum_change)
    for migration in select_pending(migrations, applied, options.target):
        statements = prepare(migration, options.variables)
        result.pending.append(migration.name)
        result.statements[migration.name] = [s.sql for s in statements]
    return result


def _apply_all(
    book: Bookkeeping,
    lock: Lock,
    migrations: list[Migration],
    options: Options,
    owner: str,
) -> MigrationResult:
    applied = book.applied()
    warnings = verify_checksums(migrations, applied, options.allow_checksum_change)
    pending = select_pending(migrations, applied, options.target)
    prepared = {m.version: prepare(m, options.variables) for m in pending}
    progress = book.progress()
    result = MigrationResult(current_version=max(applied, default=None), warnings=warnings)
    result.pending = [m.name for m in migrations if m.version not in applied and m not in pending]
    for migration in pending:
        statements = prepared[migration.version]
        start = _resume_index(migration, progress.get(migration.version), len(statements))
        result.statements[migration.name] = [s.sql for s in statements[start:]]
        _apply_one(book, lock, migration, statements, start, owner)
        result.applied.append(migration.name)
        result.current_version = migration.version
    return result


def _resume_index(migration: Migration, progress: Progress | None, total: int) -> int:
    """Where a previously failed run of this file stopped (0 if it never started)."""
    if progress is None or progress.statements_done == 0:
        return 0
    if progress.checksum != migration.checksum:
        raise ChecksumMismatchError(
            f"{migration.name} changed after a failed run applied its first "
            f"{progress.statements_done} statement(s); ClickHouse DDL cannot be rolled back, "
            "so restore the file as it was, let it finish, and fix things in a new migration"
        )
    return min(progress.statements_done, total)


def _apply_one(
    book: Bookkeeping,
    lock: Lock,
    migration: Migration,
    statements: list[Statement],
    start: int,
    owner: str,
) -> None:
    began = time.monotonic()
    total = len(statements)
    for index in range(start, total):
        statement = statements[index]
        try:
            book.executor.execute(statement.sql)
        except Exception as exc:
            raise StatementError(
                _statement_message(migration, index, total, statement, exc)
            ) from exc
        book.record_progress(migration, index + 1, total)
        lock.renew()
    book.record_applied(migration, int((time.monotonic() - began) * 1000), owner)


def _statement_message(
    migration: Migration, index: int, total: int, statement: Statement, exc: Exception
) -> str:
    first_line = statement.sql.splitlines()[0][:120]
    server = " ".join(str(exc).split("Stack trace:", maxsplit=1)[0].split()) or type(exc).__name__
    done = f"statements 1-{index} are applied and recorded; " if index else ""
    return (
        f"{migration.name}: statement {index + 1} of {total} (line {statement.line}: "
        f"{first_line}) failed: {server}. {done}fix the cause and run again: the file "
        f"resumes at statement {index + 1} and is recorded as applied only when all succeed"
    )
