# Copyright: okx_hft.infra contributors
# MIT License (see LICENSE)
"""Shared connection options and admin client of the Kafka modules (confluent-kafka)."""

from __future__ import annotations

from typing import Any

try:
    from confluent_kafka.admin import AdminClient

    HAS_CONFLUENT_KAFKA = True
except ImportError:  # reported by the module through missing_required_lib
    AdminClient = None
    HAS_CONFLUENT_KAFKA = False

CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "bootstrap_servers": {"type": "str", "required": True},
    "security_protocol": {
        "type": "str",
        "default": "SASL_PLAINTEXT",
        "choices": ["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"],
    },
    "sasl_mechanism": {"type": "str", "default": "SCRAM-SHA-512"},
    "sasl_username": {"type": "str"},
    "sasl_password": {"type": "str", "no_log": True},
    "ssl_ca_location": {"type": "path"},
    "timeout": {"type": "float", "default": 30.0},
}


def admin_client(params: dict[str, Any]) -> Any:
    """An AdminClient for the module's connection parameters."""
    conf: dict[str, Any] = {
        "bootstrap.servers": params["bootstrap_servers"],
        "security.protocol": params["security_protocol"],
        "socket.timeout.ms": int(params["timeout"] * 1000),
    }
    if params["security_protocol"].startswith("SASL"):
        conf["sasl.mechanism"] = params["sasl_mechanism"]
        conf["sasl.username"] = params["sasl_username"] or ""
        conf["sasl.password"] = params["sasl_password"] or ""
    if params.get("ssl_ca_location"):
        conf["ssl.ca.location"] = params["ssl_ca_location"]
    return AdminClient(conf)


def wait(futures: dict[Any, Any], timeout: float) -> None:
    """Wait for every future of an admin call; the first error is raised."""
    for future in futures.values():
        future.result(timeout=timeout)
