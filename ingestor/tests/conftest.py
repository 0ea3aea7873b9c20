from __future__ import annotations

from pathlib import Path

import pytest
from okx_ingestor.recording import recording_messages

RECORDING_2022 = Path("/work/shared/data/okx-recorded-2022/OKX.ws.1.0")
_LOCAL_COPY = Path(__file__).parent / "data" / "OKX.ws.1.0"


def _recording_path() -> Path | None:
    for path in (_LOCAL_COPY, RECORDING_2022):
        if path.exists():
            return path
    return None


@pytest.fixture(scope="session")
def recording_2022() -> list[str]:
    """The real OKX 2022 messages (server -> client), as raw JSON strings."""
    path = _recording_path()
    if path is None:
        pytest.skip("the 2022 OKX recording is not available")
    with path.open(encoding="utf-8") as fh:
        return list(recording_messages(fh))
