"""The optional C extension (okx_ingestor._speedups); everything else is in pyproject.toml.

The extension is optional: without a C compiler and the Python headers the build still
succeeds and okx_ingestor.speedups falls back to the pure-Python twin. Set
OKX_INGESTOR_PURE_PYTHON=1 at build time for a pure, platform-independent wheel.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("OKX_INGESTOR_PURE_PYTHON"):
    ext_modules.append(
        Extension(
            "okx_ingestor._speedups",
            ["src/okx_ingestor/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    )

setup(ext_modules=ext_modules)
