# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""Data-quality checks of the tick data: SQL files run against ClickHouse.

Each file of ``files/sql/checks`` is one SELECT that returns the offending rows, with a
header of ``-- key: value`` lines (``name``, ``summary``, ``threshold``: the number of
offending rows tolerated). Placeholders are those of the migrations (``${db_data}``)
plus the window (``${since}``, ``${until}``, ``${as_of}``) and each check's limits.

No Ansible import here: the same engine runs under the ``clickhouse_data_quality``
module (a server, clickhouse-driver) and under ``scripts/quality-check.py`` (an
embedded chdb directory), like the migration engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

try:
    from ansible_collections.okx_hft.infra.plugins.module_utils.migrations import render
except ImportError:  # scripts/ and the tests put plugins/module_utils on sys.path
    from migrations import render  # type: ignore[no-redef]

HEADER = re.compile(r"^--\s*(name|summary|threshold):\s*(.*?)\s*$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# What a window bound may look like once rendered into SQL: nothing else gets in.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,3})?$")

# Limits the checks read, with their defaults; a site overrides them by name.
DEFAULT_LIMITS: dict[str, int] = {
    "stale_trades_s": 900,
    "stale_books_s": 900,
    "stale_bbo_s": 900,
    "stale_tickers_s": 900,
    "stale_index_s": 180,
    "stale_funding_s": 300,
    "stale_mark_s": 60,
    "max_delay_ms": 5000,
    "max_skew_ms": 1000,
}


# Window functions (lagInFrame, row_number() OVER) are needed by the checks.
MIN_SERVER = (21, 8)


class QualityError(Exception):
    """A check that cannot run: bad file, bad option, failed query."""


class Executor(Protocol):
    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Check:
    name: str
    summary: str
    threshold: int
    path: Path
    text: str


@dataclass
class CheckResult:
    name: str
    summary: str
    threshold: int
    offending: int
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        return self.offending <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "threshold": self.threshold,
            "offending": self.offending,
            "passed": self.passed,
            "columns": self.columns,
            "rows": self.rows,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    as_of: datetime

    def variables(self) -> dict[str, str]:
        return {"since": _sql_time(self.since), "until": _sql_time(self.until),
                "as_of": _sql_time(self.as_of)}  # fmt: skip


def require_server(version: str) -> None:
    """Refuse a server too old for the checks, saying which version they need."""
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return  # an unusual version string: let the queries decide
    if major_minor < MIN_SERVER:
        raise QualityError(
            f"ClickHouse {version} cannot run the data-quality checks (they use window "
            f"functions, ClickHouse {MIN_SERVER[0]}.{MIN_SERVER[1]} or later). Run them on a "
            "current server (clickhouse_install_method: official) or on a chdb copy with "
            "`make quality DB=PATH`."
        )


def discover(path: Path) -> list[Check]:
    """The check files of ``path`` (``NN_name.sql``), in file-name order."""
    if not path.is_dir():
        raise QualityError(f"check directory {path} does not exist or is not a directory")
    checks = [_load(entry) for entry in sorted(path.glob("*.sql"))]
    names = [c.name for c in checks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise QualityError(f"{path}: more than one check is named {', '.join(duplicated)}")
    return checks


def _load(entry: Path) -> Check:
    text = entry.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = HEADER.match(line)
        if match:
            header[match.group(1)] = match.group(2)
    missing = [key for key in ("name", "summary", "threshold") if key not in header]
    if missing:
        raise QualityError(
            f"{entry.name}: header line(s) missing: {', '.join(f'-- {k}: ...' for k in missing)}"
        )
    if not NAME.match(header["name"]):
        raise QualityError(f"{entry.name}: check name {header['name']!r} is not snake_case")
    try:
        threshold = int(header["threshold"])
    except ValueError:
        raise QualityError(f"{entry.name}: threshold must be a whole number") from None
    return Check(header["name"], header["summary"], threshold, entry, text)


def select(checks: Sequence[Check], names: Sequence[str] | None) -> list[Check]:
    """The checks named (all when ``names`` is empty); an unknown name is an error."""
    if not names:
        return list(checks)
    known = {c.name for c in checks}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise QualityError(
            f"unknown check(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return [c for c in checks if c.name in names]


def window(as_of: str | None = None, hours: float = 24.0, since: str | None = None) -> Window:
    """The window checked: ``hours`` before ``as_of`` (default: now, UTC)."""
    end = _parse_time(as_of, "as_of") if as_of else datetime.now(UTC).replace(tzinfo=None)
    if hours <= 0:
        raise QualityError(f"window_hours must be positive, got {hours}")
    start = _parse_time(since, "since") if since else end - timedelta(hours=hours)
    if start >= end:
        raise QualityError(f"since ({_sql_time(start)}) must be before as_of ({_sql_time(end)})")
    return Window(since=start, until=end, as_of=end)


def variables(
    base: Mapping[str, str], win: Window, limits: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Everything a check may reference: databases, window, limits (validated ints)."""
    merged: dict[str, str] = dict(base)
    merged.update(win.variables())
    for key, default in DEFAULT_LIMITS.items():
        merged[key] = str(default)
    for key, value in (limits or {}).items():
        if key not in DEFAULT_LIMITS:
            raise QualityError(f"unknown limit {key!r}; known: {', '.join(sorted(DEFAULT_LIMITS))}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise QualityError(f"limit {key} must be a whole number, got {value!r}") from None
        if number < 0:
            raise QualityError(f"limit {key} must not be negative, got {number}")
        merged[key] = str(number)
    return merged


def run(
    executor: Executor,
    checks: Sequence[Check],
    values: Mapping[str, str],
    max_rows: int = 20,
    thresholds: Mapping[str, int] | None = None,
) -> list[CheckResult]:
    """Run every check: count its offending rows, keep the first ``max_rows`` of them."""
    overrides = dict(thresholds or {})
    unknown = sorted(set(overrides) - {c.name for c in checks})
    if unknown:
        raise QualityError(f"thresholds given for unknown check(s): {', '.join(unknown)}")
    return [_run_one(executor, c, values, max_rows, overrides.get(c.name)) for c in checks]


def _run_one(
    executor: Executor, check: Check, values: Mapping[str, str], max_rows: int,
    threshold: int | None,
) -> CheckResult:  # fmt: skip
    sql = render(check.text, values, source=check.path.name).strip().rstrip(";")
    started = time.monotonic()
    try:
        offending = int(executor.query(f"SELECT count() FROM ({sql})")[0][0])
        limit = check.threshold if threshold is None else int(threshold)
        result = CheckResult(check.name, check.summary, limit, offending)
        if offending and max_rows > 0:
            result.columns = [str(r[0]) for r in executor.query(f"DESCRIBE TABLE ({sql})")]
            rows = executor.query(f"SELECT * FROM ({sql}) LIMIT {int(max_rows)}")
            result.rows = [[_plain(v) for v in row] for row in rows]
    except Exception as exc:
        raise QualityError(f"check {check.name} ({check.path.name}) failed: {exc}") from exc
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def report(results: Sequence[CheckResult], width: int = 100) -> str:
    """A readable summary: one line per check, then the offending rows of each failure."""
    lines = []
    for r in results:
        verdict = "ok  " if r.passed else "FAIL"
        lines.append(f"{verdict} {r.name:<22} {r.offending:>9} offending (threshold "
                     f"{r.threshold}), {r.duration_ms} ms: {r.summary}")  # fmt: skip
    for r in results:
        if r.passed or not r.rows:
            continue
        lines.append(f"-- {r.name}: first {len(r.rows)} of {r.offending}")
        lines.append("   " + " | ".join(r.columns))
        lines.extend(("   " + " | ".join(str(v) for v in row))[:width] for row in r.rows)
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """JSON-safe cell: numbers stay numbers, Decimal and datetimes become strings."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Decimal | datetime):
        return str(value)
    return str(value)


def _parse_time(text: str, what: str) -> datetime:
    cleaned = text.strip().replace("T", " ").removesuffix("Z")
    if not TIMESTAMP.match(cleaned):
        raise QualityError(f"{what} {text!r}: use 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC)")
    return datetime.fromisoformat(cleaned)


def _sql_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
