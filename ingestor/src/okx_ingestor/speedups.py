"""Which implementation of the order book's per-level loops runs: C or Python.

The C module (_speedups, built with the wheel when a compiler is there) and the Python
module (_levels) have the same functions and results; C is about 3-5x faster on books
with many levels per update. Set OKX_INGESTOR_PURE_PYTHON=1 to run the Python one
(`okx-ingestor check-config` and the okx_ingestor_info metric say which one runs).
"""

from __future__ import annotations

import os

from . import _levels

IMPLEMENTATION = "python"
levels_ok = _levels.levels_ok
side_apply = _levels.side_apply
side_load = _levels.side_load
checksum_payload = _levels.checksum_payload

if not os.environ.get("OKX_INGESTOR_PURE_PYTHON"):
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:  # no compiler at build time, or a pure wheel: the Python twin
        pass
    else:
        IMPLEMENTATION = "c"
        levels_ok = _speedups.levels_ok
        side_apply = _speedups.side_apply
        side_load = _speedups.side_load
        checksum_payload = _speedups.checksum_payload

__all__ = ["IMPLEMENTATION", "checksum_payload", "levels_ok", "side_apply", "side_load"]
