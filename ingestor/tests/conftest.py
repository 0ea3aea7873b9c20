from __future__ import annotations

from collections.abc import Iterator
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port; yields its URL."""
    import shutil
    import subprocess
    import time

    if shutil.which("redis-server") is None:
        script = Path(__file__).parents[1] / "scripts" / "ensure-test-deps.sh"
        subprocess.run(["bash", str(script)], check=False)
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing; run ingestor/scripts/ensure-test-deps.sh as root")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not answer PING within 5 s")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
