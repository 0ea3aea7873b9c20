"""Supervision of the service's stages: threads, asyncio tasks and the per-frame path.

Every stage either contains an unexpected exception (the frame or rows it was working
on are quarantined, the error is logged with them, truncated, and counted, and the
stage goes on), or, when it cannot go on (its thread or task ended), it is marked
failed: the service then stops and exits non-zero, so systemd restarts it with the
spools on disk intact.

Each stage also reports progress (`progress(stage)`, a monotonic timestamp; loops
call it every pass, also when idle). The systemd watchdog is fed only while no stage
has failed and every stage made progress within `stall_s`
(`okx_stage_last_progress_seconds{stage}` shows the age).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from .quarantine import Quarantine, truncated

log = logging.getLogger("okx_ingestor.supervise")

LOG_FIRST = 10  # per stage, then one in LOG_EVERY
LOG_EVERY = 1000


class Supervisor:
    def __init__(self, quarantine: Quarantine | None = None, stall_s: float = 60.0) -> None:
        self.quarantine = quarantine or Quarantine(None)
        self.stall_s = stall_s
        self.errors: Counter[str] = Counter()  # contained, per stage
        self.failed: dict[str, str] = {}  # stage -> why it cannot go on
        self._progress: dict[str, float] = {}
        self.stopping = False  # set by the service: tasks ending now are expected
        self._lock = threading.Lock()
        self.on_failure: Callable[[], None] | None = None  # wakes the service's loop

    # -- progress ------------------------------------------------------------------
    def progress(self, stage: str) -> None:
        self._progress[stage] = time.monotonic()

    def forget(self, stage: str) -> None:
        """A stage that ended on purpose (e.g. a replaced connection)."""
        self._progress.pop(stage, None)

    def ages(self, now: float | None = None) -> dict[str, float]:
        now = time.monotonic() if now is None else now
        return {stage: now - t for stage, t in list(self._progress.items())}

    def healthy(self, now: float | None = None) -> bool:
        """No stage failed and each made progress within stall_s: feed the watchdog."""
        if self.failed:
            return False
        return all(age <= self.stall_s for age in self.ages(now).values())

    def stalled(self, now: float | None = None) -> list[str]:
        return sorted(s for s, age in self.ages(now).items() if age > self.stall_s)

    # -- errors --------------------------------------------------------------------
    def contained(self, stage: str, exc: BaseException, context: object = None) -> None:
        """An unexpected error the stage survives: counted, logged (with what it was
        working on, truncated), and that frame quarantined as `<stage>:<error type>`."""
        with self._lock:
            self.errors[stage] += 1
            n = self.errors[stage]
        reason = f"{stage}:{type(exc).__name__}"
        if n <= LOG_FIRST or n % LOG_EVERY == 0:
            log.error(
                "unexpected error contained; the stage goes on",
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"stage": stage, "errors": n, "context": truncated(context, 500)},
            )
        if context is not None:
            self.quarantine.message(reason, repr(exc)[:200], context)

    def fail(self, stage: str, exc: BaseException | None, why: str = "") -> None:
        """The stage cannot go on: the service exits non-zero (systemd restarts it)."""
        text = why or (repr(exc)[:300] if exc is not None else "ended")
        with self._lock:
            first = not self.failed
            self.failed.setdefault(stage, text)
        log.critical(
            "stage failed; the service stops and exits non-zero (the spools stay on disk)",
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
            extra={"stage": stage, "error": text},
        )
        if first and self.on_failure is not None:
            self.on_failure()

    # -- wrappers ------------------------------------------------------------------
    def run_thread(self, stage: str, body: Callable[[], None]) -> None:
        """A thread's run(): any exception escaping `body` fails the stage."""
        try:
            body()
        except BaseException as exc:  # reported, then the thread ends
            self.fail(stage, exc)

    def watch(
        self, task: asyncio.Task[None], stage: str, *, may_end: bool = False,
        contain: bool = False,
    ) -> None:  # fmt: skip
        """An asyncio task: an exception fails the stage (is only counted and logged
        with `contain`), and so does ending while the service runs unless `may_end`."""

        def done(t: asyncio.Task[None]) -> None:
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                if not may_end and not self.stopping:
                    self.fail(stage, None, "the task ended while the service runs")
                return
            if contain:
                self.contained(stage, exc)
            else:
                self.fail(stage, exc)

        task.add_done_callback(done)
