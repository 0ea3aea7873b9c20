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


_CH_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log>
    <errorlog>{d}/server.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
"""
_CH_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
</yandex>
"""


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private clickhouse-server (Debian's 18.16 here) on a free port; yields the port.

    Installed by scripts/ensure-test-deps.sh (make unit). Missing -> the test fails,
    unless OKX_HFT_SKIP_SERVER_TESTS=1 (the collection's switch for these tests).
    """
    import os
    import shutil
    import subprocess
    import time

    binary = shutil.which("clickhouse-server")
    if binary is None:
        if os.environ.get("OKX_HFT_SKIP_SERVER_TESTS") == "1":
            pytest.skip("clickhouse-server not installed and OKX_HFT_SKIP_SERVER_TESTS=1")
        pytest.fail("clickhouse-server is missing: run `bash scripts/ensure-test-deps.sh` as root")
    directory = tmp_path_factory.mktemp("clickhouse-server")
    tcp = _free_port()
    (directory / "users.xml").write_text(_CH_USERS)
    (directory / "config.xml").write_text(
        _CH_CONFIG.format(d=directory, tcp=tcp, http=_free_port())
    )
    log = (directory / "stdout.log").open("w")
    proc = subprocess.Popen([binary, f"--config-file={directory / 'config.xml'}"], stdout=log,
                            stderr=log)  # fmt: skip
    from clickhouse_driver import Client

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                Client("127.0.0.1", port=tcp, connect_timeout=1).execute("SELECT 1")
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"clickhouse-server did not start; see {directory}/server.err.log")
                time.sleep(0.2)
        yield tcp
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
