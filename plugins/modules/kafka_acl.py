#!/usr/bin/python
# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""Ansible module: Kafka ALLOW ACLs for one principal on one resource."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_acl
short_description: Grant or revoke Kafka ACLs
version_added: "0.2.0"
description:
  - Keeps the ALLOW ACLs of one principal on one resource (topic, consumer group,
    cluster, transactional id) as declared, through Kafka's admin API (confluent-kafka),
    for clusters that run an authorizer (KRaft's StandardAuthorizer).
  - With O(state=present) the listed operations are granted (others the principal
    already has on the resource stay); with O(state=absent) they are revoked.
  - Supports check mode and diff mode.
options:
  principal:
    description: The principal, e.g. C(User:ingest).
    type: str
    required: true
  resource_type:
    description: The kind of resource.
    type: str
    choices: [topic, group, cluster, transactional_id]
    required: true
  resource_name:
    description: The resource's name, or its prefix with O(pattern=prefixed); C(kafka-cluster) for the cluster.
    type: str
    required: true
  pattern:
    description: How O(resource_name) matches.
    type: str
    choices: [literal, prefixed]
    default: literal
  operations:
    description: Operations, e.g. C(read), C(write), C(describe), C(create), C(idempotent_write), C(all).
    type: list
    elements: str
    required: true
  host:
    description: The client host the ACLs apply to (C(*) for any).
    type: str
    default: "*"
  state:
    description: Whether the ACLs should exist.
    type: str
    choices: [present, absent]
    default: present
  bootstrap_servers:
    description: Comma-separated C(host:port) list of brokers.
    type: str
    required: true
  security_protocol:
    description: How the client connects.
    type: str
    choices: [PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL]
    default: SASL_PLAINTEXT
  sasl_mechanism:
    description: SASL mechanism.
    type: str
    default: SCRAM-SHA-512
  sasl_username:
    description: SASL user (a super user, or one allowed to alter ACLs).
    type: str
  sasl_password:
    description: The SASL user's password.
    type: str
  ssl_ca_location:
    description: CA bundle that signed the brokers' certificates (SSL, SASL_SSL).
    type: path
  timeout:
    description: Seconds to wait for each admin call.
    type: float
    default: 30.0
requirements:
  - confluent-kafka >= 2.2 (on the host that runs the module)
author:
  - okx_hft.infra contributors (@okx-hft)
"""

EXAMPLES = r"""
- name: The ingestor may write the okx. topics (idempotent producer)
  okx_hft.infra.kafka_acl:
    principal: User:ingest
    resource_type: topic
    resource_name: okx.
    pattern: prefixed
    operations: [write, describe]
    bootstrap_servers: 10.20.2.11:9092
    sasl_username: admin
    sasl_password: "{{ vault_kafka_admin_password }}"
"""

RETURN = r"""
granted:
  description: The operations the principal holds on the resource after the run.
  returned: always
  type: list
  elements: str
  sample: ["describe", "write"]
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["allow write"]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.okx_hft.infra.plugins.module_utils.kafka import (
    CONNECTION_ARGS,
    HAS_CONFLUENT_KAFKA,
    admin_client,
    wait,
)

RESOURCE_TYPES = {
    "topic": "TOPIC",
    "group": "GROUP",
    "cluster": "BROKER",
    "transactional_id": "TRANSACTIONAL_ID",
}


def binding(params: dict[str, Any], operation: str, delete: bool = False) -> Any:
    """The ALLOW binding of one operation (as the filter that matches it, to delete it)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    cls = AclBindingFilter if delete else AclBinding
    return cls(
        getattr(ResourceType, RESOURCE_TYPES[params["resource_type"]]),
        params["resource_name"],
        getattr(ResourcePatternType, params["pattern"].upper()),
        params["principal"],
        params["host"],
        getattr(AclOperation, operation.upper()),
        AclPermissionType.ALLOW,
    )


def granted(admin: Any, params: dict[str, Any]) -> set[str]:
    """The operations the principal is allowed on exactly this resource pattern."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    query = AclBindingFilter(
        getattr(ResourceType, RESOURCE_TYPES[params["resource_type"]]),
        params["resource_name"],
        getattr(ResourcePatternType, params["pattern"].upper()),
        params["principal"],
        params["host"],
        AclOperation.ANY,
        AclPermissionType.ALLOW,
    )
    found = admin.describe_acls(query, request_timeout=params["timeout"]).result(
        timeout=params["timeout"]
    )
    return {acl.operation.name.lower() for acl in found}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "principal": {"type": "str", "required": True},
            "resource_type": {"type": "str", "required": True, "choices": list(RESOURCE_TYPES)},
            "resource_name": {"type": "str", "required": True},
            "pattern": {"type": "str", "choices": ["literal", "prefixed"], "default": "literal"},
            "operations": {"type": "list", "elements": "str", "required": True},
            "host": {"type": "str", "default": "*"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            **CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not HAS_CONFLUENT_KAFKA:
        module.fail_json(msg=missing_required_lib("confluent-kafka"))
    from confluent_kafka.admin import AclOperation

    params = module.params
    wanted = {op.lower() for op in params["operations"]}
    unknown = sorted(op for op in wanted if op.upper() not in AclOperation.__members__)
    if unknown:
        module.fail_json(
            msg=f"unknown ACL operation(s) {', '.join(unknown)}: use e.g. read, write, describe, create"
        )
    admin = admin_client(params)
    try:
        before = granted(admin, params)
        todo = sorted(wanted - before) if params["state"] == "present" else sorted(wanted & before)
        if todo and not module.check_mode:
            delete = params["state"] == "absent"
            bindings = [binding(params, op, delete) for op in todo]
            call = admin.delete_acls if delete else admin.create_acls
            wait(call(bindings, request_timeout=params["timeout"]), params["timeout"])
    except Exception as exc:  # the client's errors carry Kafka's own explanation
        module.fail_json(msg=f"Kafka ACL call for {params['principal']} failed: {exc}")
    after = before | set(todo) if params["state"] == "present" else before - set(todo)
    verb = "allow" if params["state"] == "present" else "revoke"
    result: dict[str, Any] = {
        "changed": bool(todo),
        "actions": [f"{verb} {op}" for op in todo],
        "granted": sorted(after),
    }
    if module._diff:
        result["diff"] = {
            "before": {"granted": sorted(before)},
            "after": {"granted": sorted(after)},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
