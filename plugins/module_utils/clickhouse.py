# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""Connection helper for ClickHouse modules: clickhouse-driver over the native protocol.

clickhouse-driver is a target-side requirement (``pip install clickhouse-driver`` on the
host that runs the module). It is imported lazily, so this file imports cleanly without
it and modules can fail with Ansible's ``missing_required_lib`` message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DRIVER_PACKAGE = "clickhouse-driver"
DRIVER_URL = "https://clickhouse-driver.readthedocs.io/"


def connection_argument_spec() -> dict[str, dict[str, Any]]:
    """Connection options shared by the collection's ClickHouse modules."""
    return {
        "login_host": {"type": "str", "default": "localhost"},
        "login_port": {"type": "int", "default": 9000},
        "login_user": {"type": "str", "default": "default"},
        "login_password": {"type": "str", "default": "", "no_log": True},
        "secure": {"type": "bool", "default": False},
        "verify": {"type": "bool", "default": True},
        "ca_certs": {"type": "path"},
        "connect_timeout": {"type": "float", "default": 10.0},
        "send_receive_timeout": {"type": "float", "default": 300.0},
    }


@dataclass(frozen=True)
class ConnectionParams:
    """What clickhouse_driver.Client needs."""

    host: str = "localhost"
    port: int = 9000
    user: str = "default"
    password: str = ""
    secure: bool = False
    verify: bool = True
    ca_certs: str | None = None
    connect_timeout: float = 10.0
    send_receive_timeout: float = 300.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ConnectionParams:
        """Build from an AnsibleModule's params (the keys of connection_argument_spec)."""
        return cls(
            host=params["login_host"],
            port=int(params["login_port"]),
            user=params["login_user"],
            password=params["login_password"] or "",
            secure=bool(params["secure"]),
            verify=bool(params["verify"]),
            ca_certs=params.get("ca_certs"),
            connect_timeout=float(params["connect_timeout"]),
            send_receive_timeout=float(params["send_receive_timeout"]),
        )

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "secure": self.secure,
            "verify": self.verify,
            "connect_timeout": self.connect_timeout,
            "send_receive_timeout": self.send_receive_timeout,
            "sync_request_timeout": self.connect_timeout,
        }
        if self.ca_certs:
            kwargs["ca_certs"] = self.ca_certs
        return kwargs

    def describe(self) -> str:
        """host:port as user, for error messages (never the password)."""
        scheme = "tls" if self.secure else "tcp"
        return f"{scheme}://{self.user}@{self.host}:{self.port}"


def driver_import_error() -> Exception | None:
    """None when clickhouse-driver imports, else the ImportError."""
    try:
        import clickhouse_driver  # noqa: F401
    except ImportError as exc:
        return exc
    return None


class DriverExecutor:
    """The migration engine's Executor over a clickhouse_driver.Client."""

    def __init__(self, params: ConnectionParams) -> None:
        from clickhouse_driver import Client

        self.params = params
        self.client = Client(**params.client_kwargs())

    def execute(self, sql: str) -> None:
        self.client.execute(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.client.execute(sql)]

    def server_version(self) -> str:
        return str(self.query("SELECT version()")[0][0])

    def close(self) -> None:
        self.client.disconnect()


class ChdbExecutor:
    """The migration engine's Executor over a chdb session (ClickHouse in-process).

    Takes an already opened ``chdb.session.Session`` so this file needs no chdb import.
    """

    def __init__(self, session: Any) -> None:
        self.session = session

    def execute(self, sql: str) -> None:
        self.session.query(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        result = self.session.query(sql, "JSONCompact")
        text = result.data() if hasattr(result, "data") else str(result)
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]


def connect(params: ConnectionParams) -> DriverExecutor:
    """Open a connection and check it answers; errors say where and what to check."""
    try:
        executor = DriverExecutor(params)
        executor.server_version()
    except Exception as exc:
        raise ConnectionError(
            f"cannot connect to ClickHouse at {params.describe()}: {exc}. Check that the "
            "server runs and listens on that native (TCP) port, the user and password, and "
            "for TLS the secure/verify/ca_certs options"
        ) from exc
    return executor
