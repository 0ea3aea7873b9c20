#!/usr/bin/python
# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: web_password_hash
short_description: The bcrypt hash of a web password, the same on every run
description:
  - Returns the bcrypt hash of O(password) for an exporter-toolkit web configuration
    (C(basic_auth_users) of Prometheus, Alertmanager, node_exporter).
  - The salt is derived from O(salt_seed) and the password (SHA-256), so the hash is the
    same on every run for the same inputs; a template that renders it is then unchanged
    on a second converge and in check mode. A new password (a rotation) gives a new
    hash and salt.
  - Read-only; reports no change and runs in check mode.
version_added: 0.1.0
author:
  - okx_hft.infra contributors (@okx-hft)
requirements:
  - bcrypt (Python package; Debian's python3-bcrypt) on the host that runs the module
options:
  password:
    description: The clear password. Never logged.
    type: str
    required: true
  salt_seed:
    description:
      - Mixed into the salt, e.g. the host and the service, so that one password gives
        different hashes on different services.
    type: str
    required: true
  rounds:
    description: bcrypt cost (log2 of the rounds), 4-31.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Hash Prometheus's web password
  okx_hft.infra.web_password_hash:
    password: "{{ prometheus_web_password_value }}"
    salt_seed: "{{ inventory_hostname }}/prometheus"
  register: prometheus__web_hash
  no_log: true
"""

RETURN = r"""
hash:
  description: The bcrypt hash (C($2b$...)).
  type: str
  returned: success
"""

import base64
import hashlib

from ansible.module_utils.basic import AnsibleModule

try:
    import bcrypt
except ImportError:  # pragma: no cover - reported by the module
    bcrypt = None

_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TO_BCRYPT = str.maketrans(_STD, _BCRYPT)


def stable_salt(seed: str, password: str, rounds: int) -> bytes:
    """A bcrypt salt (``$2b$NN$`` + 22 characters) derived from seed and password."""
    digest = hashlib.sha256(f"okx_hft.web\0{seed}\0{password}".encode()).digest()[:16]
    encoded = base64.b64encode(digest).decode().rstrip("=").translate(_TO_BCRYPT)
    return f"$2b${rounds:02d}${encoded[:22]}".encode()


def web_password_hash(password: str, seed: str, rounds: int = 10) -> str:
    return bcrypt.hashpw(password.encode(), stable_salt(seed, password, rounds)).decode()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "password": {"type": "str", "required": True, "no_log": True},
            "salt_seed": {"type": "str", "required": True},
            "rounds": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    if bcrypt is None:
        module.fail_json(
            msg="okx_hft.infra.web_password_hash needs the bcrypt Python package (Debian: python3-bcrypt)"
        )
    rounds = module.params["rounds"]
    if not 4 <= rounds <= 31:
        module.fail_json(msg=f"rounds must be 4-31, not {rounds}")
    if not module.params["password"]:
        module.fail_json(msg="password is empty")
    module.exit_json(
        changed=False,
        hash=web_password_hash(module.params["password"], module.params["salt_seed"], rounds),
    )


if __name__ == "__main__":
    main()
