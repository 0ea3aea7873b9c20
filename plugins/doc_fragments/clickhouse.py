# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""Connection options shared by the collection's ClickHouse modules
(plugins/module_utils/clickhouse.py: connection_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host of the ClickHouse server.
    type: str
    default: localhost
  login_port:
    description: Native protocol port (9000 upstream, 9440 for TLS; the lab uses 9003).
    type: int
    default: 9000
  login_user:
    description: ClickHouse user; see the module's description for the grants it needs.
    type: str
    default: default
  login_password:
    description: Password of O(login_user).
    type: str
    default: ""
  secure:
    description: Use TLS.
    type: bool
    default: false
  verify:
    description: Verify the server certificate when O(secure=true).
    type: bool
    default: true
  ca_certs:
    description: CA bundle to verify the server certificate with.
    type: path
  connect_timeout:
    description: Seconds to wait for the connection.
    type: float
    default: 10
  send_receive_timeout:
    description: Seconds to wait for a statement's data; raise it for slow DDL or checks.
    type: float
    default: 300
requirements:
  - clickhouse-driver (Python package) on the host that runs the module
seealso:
  - name: clickhouse-driver
    description: The Python client the module uses.
    link: https://clickhouse-driver.readthedocs.io/
"""
