"""The TLS listener roles/redis renders works with the real redis-server (issue 14, item 3).

A test CA and a server certificate are made with openssl; the role's redis.conf is
rendered with them, and its tls-* lines are given to a private redis-server (Debian's,
built with TLS; scripts/ensure-test-deps.sh installs it) with the plain port off. A
client that trusts the CA gets PONG over TLS; a plaintext client on the TLS port gets
no answer (the server resets it); a client that does not trust the CA is refused.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_rolling_restarts import render_redis_conf

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
OPENSSL = shutil.which("openssl")


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_ca_and_certificate(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1, server key)."""
    ca_key, ca_crt = directory / f"{name}-ca.key", directory / f"{name}-ca.crt"
    key, csr, crt = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name} test CA", "-keyout", str(ca_key), "-out", str(ca_crt)],
        [OPENSSL, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(csr)],
        [OPENSSL, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)],
    ]  # fmt: skip
    for argv in steps:
        result = run(*argv)
        assert result.returncode == 0, result.stderr
    return ca_crt, crt, key


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """(TLS port, trusted CA, an untrusted CA) of a redis-server started with the role's
    rendered tls-* lines; stopped afterwards."""
    if not (REDIS_SERVER and REDIS_CLI and OPENSSL):
        pytest.fail(
            "redis-server, redis-cli and openssl are needed: sudo bash scripts/ensure-test-deps.sh"
        )
    directory = tmp_path_factory.mktemp("redis-tls")
    ca, crt, key = make_ca_and_certificate(directory, "platform")
    other_ca, _, _ = make_ca_and_certificate(directory, "other")
    port = free_port()
    rendered = render_redis_conf(
        redis_tls_certificate=str(crt), redis_tls_private_key=str(key), redis_tls_port=port
    )
    tls_lines = [line for line in rendered.splitlines() if line.startswith("tls-")]
    assert f"tls-port {port}" in tls_lines
    conf = directory / "redis.conf"
    conf.write_text(
        "\n".join(["port 0", "bind 127.0.0.1", f"dir {directory}", 'save ""', *tls_lines]) + "\n"
    )
    server = subprocess.Popen(
        [REDIS_SERVER, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        for _ in range(50):
            if server.poll() is not None:
                pytest.fail(f"redis-server refused the role's TLS lines: {server.stdout.read()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port, ca, other_ca
    finally:
        server.terminate()
        server.wait(timeout=10)


def cli(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return run(REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *args, "PING")


def test_a_client_that_trusts_the_ca_gets_pong_over_tls(tls_redis):
    port, ca, _ = tls_redis
    result = cli(port, "--tls", "--cacert", str(ca))
    assert result.stdout.strip() == "PONG", result.stdout + result.stderr


def test_a_plaintext_client_on_the_tls_port_gets_no_answer(tls_redis):
    port, _, _ = tls_redis
    result = cli(port)
    assert "PONG" not in result.stdout
    assert "connection reset" in (result.stdout + result.stderr).lower(), result.stdout


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_redis):
    port, _, other_ca = tls_redis
    result = cli(port, "--tls", "--cacert", str(other_ca))
    assert "PONG" not in result.stdout
    assert "certificate verify failed" in (result.stdout + result.stderr).lower()
