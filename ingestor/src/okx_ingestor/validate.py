"""Field checks at the boundary: type, ASCII and range, before a value enters a book or a row.

Every check here is what the columns of files/sql can hold:

- prices, sizes, rates: `Decimal(38, 18)`, so plain ASCII decimals with at most 20
  integer and 18 fractional digits; no sign (funding-rate fields may be negative), no
  exponent, no other Unicode digits (fullwidth "123"), no NaN;
- tradeId: `UInt64`; count and numOrders: `UInt32`; source: `UInt8`; seqId and
  prevSeqId: `Int64`; checksum: `Int32`;
- exchange timestamps (ms): from `validation.ts_min` (default 2017-01-01, before OKX's
  v5 API, so recordings of any year since replay) to the wall clock plus
  `validation.ts_max_ahead_s` (default one day). The same window holds live and in
  replay: it needs no notion of "now" but its upper end;
- instIds: ASCII letters, digits, `-`, `_` and `.`, at most 64 characters (a data
  item's own instId must equal the subscription's: decoder and pipeline check that).

The checks are cheap on purpose (they run per message): a compiled ASCII regex on an
already decoded string, a length check before any int(), and two comparisons for a
timestamp. The C push (speedups.push) reads TS_LIMITS itself and declines what falls
outside, so the Python code (ts_ok) decides and moves the upper end as time passes.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

# Decimal(38, 18), ASCII only ([0-9] never matches other Unicode digits).
DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,18})?")
SIGNED_DECIMAL = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,18})?")
INST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
is_decimal = DECIMAL.fullmatch
is_signed_decimal = SIGNED_DECIMAL.fullmatch

UINT64_MAX = "18446744073709551615"
UINT32_MAX = "4294967295"
UINT8_MAX = "255"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

TS_MIN_DEFAULT_MS = 1_483_228_800_000  # 2017-01-01T00:00:00Z
TS_AHEAD_DEFAULT_MS = 86_400_000  # one day
_TS_DIGITS = 13  # ms timestamps from 2001-09-09 to 2286-11-20

# [lowest ms, highest ms accepted so far]. A list, shared with the C push (Pipeline's
# push context), which declines a timestamp outside it; ts_ok() then moves the upper end
# to the wall clock + the allowance and decides.
TS_LIMITS: list[int] = [TS_MIN_DEFAULT_MS, 0]
_ahead_ms = TS_AHEAD_DEFAULT_MS


def configure(
    ts_min_ms: int = TS_MIN_DEFAULT_MS, ts_max_ahead_ms: int = TS_AHEAD_DEFAULT_MS
) -> None:
    """Set the timestamp window (config `validation:`); the defaults suit live and replay."""
    global _ahead_ms
    _ahead_ms = ts_max_ahead_ms
    TS_LIMITS[0] = ts_min_ms
    TS_LIMITS[1] = 0  # recomputed at the next timestamp


def ts_ok(ms: int) -> bool:
    """An exchange timestamp (int ms) inside the window."""
    if TS_LIMITS[0] <= ms <= TS_LIMITS[1]:
        return True
    if ms < TS_LIMITS[0]:
        return False
    TS_LIMITS[1] = time.time_ns() // 1_000_000 + _ahead_ms
    return ms <= TS_LIMITS[1]


def ms_of(value: object) -> int | None:
    """An exchange timestamp as OKX sends it (an ASCII decimal string, or a JSON int)
    -> int ms inside the window; None when it is not one."""
    if type(value) is str:
        if len(value) > _TS_DIGITS or not value.isascii() or not value.isdigit():
            return None
        ms = int(value)
    elif type(value) is int:
        ms = value
    else:
        return None
    return ms if ts_ok(ms) else None


def uint_text(value: object, max_text: str) -> bool:
    """An ASCII decimal string whose value is at most `max_text` (UINT64_MAX ...)."""
    if type(value) is not str or not value.isascii() or not value.isdigit():
        return False
    n, m = len(value), len(max_text)
    return n < m or (n == m and value <= max_text)


def inst_id_ok(value: object) -> bool:
    return type(value) is str and INST_ID.fullmatch(value) is not None


def parse_ts_min(text: str) -> int:
    """`validation.ts_min` (YYYY-MM-DD, UTC) -> ms; ValueError names the format."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"give a date as YYYY-MM-DD (UTC), got {text!r}") from None
    return int(day.timestamp() * 1000)
