"""`okx-ingestor run` as a real process: READY via $NOTIFY_SOCKET, SIGTERM flushes rows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from okx_ingestor.sdnotify import sd_notify, watchdog_interval_s


def test_sd_notify_datagram(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": path})
        assert server.recv(100) == b"READY=1"
    assert not sd_notify("READY=1", {})
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval_s({}) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_ready_then_sigterm_flushes(tmp_path: Path) -> None:
    port = _free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "okx_ingestor.cli", "simulate", "--port", str(port), "--rate",
         "500", "--instruments", "BTC-USDT,ETH-USDT"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    notify = str(tmp_path / "notify.sock")
    out = tmp_path / "rows.jsonl"
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        f"instruments: [BTC-USDT, ETH-USDT]\n"
        f"endpoints: {{public: 'ws://127.0.0.1:{port}/ws/v5/public',"
        f" business: 'ws://127.0.0.1:{port}/ws/v5/business'}}\n"
        f"channels: [trades, books, tickers]\n"
        f"batch: {{max_rows: 100000, max_interval_s: 3600}}\n"  # only SIGTERM flushes
        f"spool: {{dir: '{tmp_path / 'spool'}'}}\n"
        f"metrics: {{port: 0}}\n"
        f"sinks: {{jsonl: {{path: '{out}'}}}}\n"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(notify)
        server.settimeout(20)
        try:
            assert sim.stdout is not None
            assert json.loads(sim.stdout.readline())["url"].endswith(f":{port}/ws/v5/public")
            env = {**os.environ, "NOTIFY_SOCKET": notify}
            proc = subprocess.Popen(
                [sys.executable, "-m", "okx_ingestor.cli", "run", "--config", str(cfg)],
                env=env, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.recv(100) == b"READY=1"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not out.exists():
                time.sleep(0.2)  # nothing is written before SIGTERM: the file is created empty
            time.sleep(1.5)  # let some messages flow
            assert out.read_text() == ""
            proc.send_signal(signal.SIGTERM)
            assert server.recv(100) == b"STOPPING=1"
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err[-2000:]
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    tables = {r["table"] for r in rows}
    assert {"hft_data.raw_ticks", "hft_data.book_l2", "hft_data.tickers"} <= tables
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    stopped = [x for x in logs if x["msg"] == "ingestor stopped"]
    assert stopped and stopped[0]["clean"] is True and stopped[0]["parse_errors"] == 0
