"""Which implementation of the hot loops runs: C or Python.

The C module (_speedups, built with the wheel when a compiler is there) and the Python
module (_levels) have the same per-level functions and results; C is about 3-5x faster
on books with many levels per update. Set OKX_INGESTOR_PURE_PYTHON=1 to run the Python
one (`okx-ingestor check-config` and the okx_ingestor_info metric say which one runs).

The C module also handles whole data pushes in their usual shape (`push`: a books
update for a live book, a single trade, tickers). With the Python module `push` is None
and the pipeline's own Python fast path runs; that path is also where C declines
anything unusual, so it is push's twin (tests/test_pipeline_fast.py compares them).
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _levels


def _pick() -> tuple[ModuleType, str]:
    if not os.environ.get("OKX_INGESTOR_PURE_PYTHON"):
        try:
            from . import _speedups  # type: ignore[attr-defined]
        except ImportError:  # no compiler at build time, or a pure wheel
            pass
        else:
            return _speedups, "c"
    return _levels, "python"


_impl, IMPLEMENTATION = _pick()
levels_ok = _impl.levels_ok
book_sides_ok = _impl.book_sides_ok
side_apply = _impl.side_apply
side_load = _impl.side_load
checksum_payload = _impl.checksum_payload
untrack_levels = _impl.untrack_levels
push = getattr(_impl, "push", None)

__all__ = [
    "IMPLEMENTATION",
    "book_sides_ok",
    "checksum_payload",
    "levels_ok",
    "push",
    "side_apply",
    "side_load",
    "untrack_levels",
]
