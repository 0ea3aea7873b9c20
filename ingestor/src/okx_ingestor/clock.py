"""Receive timestamps: a monotonic-corrected wall clock with microseconds.

The wall clock is read once (and re-anchored every `reanchor_s`); in between, time
advances with CLOCK_MONOTONIC, so an NTP step never makes receive times jump
backwards or forwards mid-stream. A re-anchor never moves time backwards either.
"""

from __future__ import annotations

import time

_monotonic_ns = time.monotonic_ns  # module global: one lookup, not two, per message


class WallClock:
    __slots__ = ("_deadline", "_last_us", "_mono0", "_offset_ns", "_reanchor_ns", "_wall0")

    def __init__(self, reanchor_s: float = 60.0) -> None:
        self._reanchor_ns = int(reanchor_s * 1e9)
        self._last_us = 0
        self._anchor()

    def _anchor(self) -> None:
        self._mono0 = _monotonic_ns()
        self._wall0 = time.time_ns()
        # Precomputed for now_us(): wall = mono + offset until the next re-anchor.
        self._offset_ns = self._wall0 - self._mono0
        self._deadline = self._mono0 + self._reanchor_ns

    def now_us(self) -> int:
        mono = _monotonic_ns()
        if mono > self._deadline:
            self._anchor()
            mono = self._mono0
        now = (mono + self._offset_ns) // 1000
        if now < self._last_us:
            now = self._last_us
        self._last_us = now
        return now
