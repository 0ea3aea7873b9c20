#!/usr/bin/python
# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)
"""Ansible module: a Kafka topic as declared (partitions, replication, configuration)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_topic
short_description: Create, update or delete a Kafka topic
version_added: "0.2.0"
description:
  - Keeps one Kafka topic as declared, through Kafka's admin API (confluent-kafka).
  - Creates the topic when it is missing; raises its partition count when more are
    declared; sets the declared topic configuration entries incrementally, leaving
    entries it is not given as they are.
  - Never lowers the partition count or changes the replication factor (Kafka cannot do
    the first; the second is a reassignment, an operator's decision); it fails and says so.
  - Supports check mode and diff mode.
options:
  name:
    description: The topic's name.
    type: str
    required: true
  state:
    description: Whether the topic should exist.
    type: str
    choices: [present, absent]
    default: present
  partitions:
    description: Number of partitions (at least 1).
    type: int
    default: 1
  replication_factor:
    description: Number of replicas of each partition (used when the topic is created).
    type: int
    default: 1
  config:
    description:
      - Topic configuration entries, e.g. C(min.insync.replicas), C(retention.ms),
        C(compression.type), C(cleanup.policy). Values are compared as strings.
    type: dict
    default: {}
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
    description: SASL user (an admin, or a user with the ACLs the change needs).
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
- name: Raw trades, one partition per 8 instruments, 3 copies
  okx_hft.infra.kafka_topic:
    name: okx.trades
    partitions: 12
    replication_factor: 3
    config:
      min.insync.replicas: 2
      retention.ms: 604800000
      compression.type: zstd
    bootstrap_servers: 10.20.2.11:9092,10.20.2.12:9092
    sasl_username: admin
    sasl_password: "{{ vault_kafka_admin_password }}"
"""

RETURN = r"""
topic:
  description: The topic as it is after the run (as it would be, in check mode).
  returned: when state is present
  type: dict
  sample: {"name": "okx.trades", "partitions": 12, "replication_factor": 3,
           "config": {"min.insync.replicas": "2"}}
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create partitions=12 replication_factor=3"]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.okx_hft.infra.plugins.module_utils.kafka import (
    CONNECTION_ARGS,
    HAS_CONFLUENT_KAFKA,
    admin_client,
    wait,
)


def current_state(admin: Any, name: str, timeout: float) -> dict[str, Any] | None:
    """The topic's partitions, replication factor and configuration; None when absent."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    metadata = admin.list_topics(timeout=timeout)
    topic = metadata.topics.get(name)
    if topic is None or topic.error is not None:
        return None
    partitions = topic.partitions
    replication = len(next(iter(partitions.values())).replicas) if partitions else 0
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([resource])[resource].result(timeout=timeout)
    config = {key: entry.value for key, entry in entries.items()}
    return {
        "name": name,
        "partitions": len(partitions),
        "replication_factor": replication,
        "config": config,
    }


def config_changes(declared: dict[str, str], config: dict[str, str | None]) -> dict[str, str]:
    """The declared entries whose current value differs."""
    return {key: value for key, value in declared.items() if config.get(key) != value}


def plan(params: dict[str, Any], before: dict[str, Any] | None) -> tuple[list[str], str | None]:
    """The actions that make the topic as declared, or a reason it cannot be done."""
    declared = {str(k): str(v) for k, v in params["config"].items()}
    if params["state"] == "absent":
        return (["delete"] if before else []), None
    if before is None:
        return [
            f"create partitions={params['partitions']} replication_factor={params['replication_factor']}"
        ], None
    if params["partitions"] < before["partitions"]:
        return [], (
            f"topic {params['name']} has {before['partitions']} partitions and {params['partitions']} are "
            "declared: Kafka cannot remove partitions. Declare at least the current count, or recreate the topic."
        )
    if params["replication_factor"] != before["replication_factor"]:
        return [], (
            f"topic {params['name']} has replication factor {before['replication_factor']} and "
            f"{params['replication_factor']} is declared: change it with a partition reassignment "
            "(kafka-reassign-partitions), then declare the new value."
        )
    actions = []
    if params["partitions"] > before["partitions"]:
        actions.append(f"partitions {before['partitions']} -> {params['partitions']}")
    for key, value in sorted(config_changes(declared, before["config"]).items()):
        actions.append(f"set {key}={value}")
    return actions, None


def apply(admin: Any, params: dict[str, Any], before: dict[str, Any] | None) -> None:
    """Carry out the plan against the cluster."""
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    name, timeout = params["name"], params["timeout"]
    declared = {str(k): str(v) for k, v in params["config"].items()}
    if params["state"] == "absent":
        wait(admin.delete_topics([name], operation_timeout=timeout), timeout)
        return
    if before is None:
        topic = NewTopic(name, params["partitions"], params["replication_factor"], config=declared)
        wait(admin.create_topics([topic], operation_timeout=timeout), timeout)
        return
    if params["partitions"] > before["partitions"]:
        wait(admin.create_partitions([NewPartitions(name, params["partitions"])]), timeout)
    changes = config_changes(declared, before["config"])
    if changes:
        entries = [
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in changes.items()
        ]
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        wait(admin.incremental_alter_configs([resource]), timeout)


def declared_state(params: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """What the topic is after the plan: the current state with the declared values."""
    config = dict(before["config"]) if before else {}
    config.update({str(k): str(v) for k, v in params["config"].items()})
    return {
        "name": params["name"],
        "partitions": params["partitions"],
        "replication_factor": before["replication_factor"]
        if before
        else params["replication_factor"],
        "config": config,
    }


def declared_view(state: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    """A state with only the declared configuration entries (the diff a user reads)."""
    if not state:
        return {}
    keys = {str(k) for k in params["config"]}
    return {**state, "config": {k: v for k, v in state["config"].items() if k in keys}}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "partitions": {"type": "int", "default": 1},
            "replication_factor": {"type": "int", "default": 1},
            "config": {"type": "dict", "default": {}},
            **CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not HAS_CONFLUENT_KAFKA:
        module.fail_json(msg=missing_required_lib("confluent-kafka"))
    params = module.params
    if params["partitions"] < 1 or params["replication_factor"] < 1:
        module.fail_json(msg="partitions and replication_factor must be at least 1")
    admin = admin_client(params)
    try:
        before = current_state(admin, params["name"], params["timeout"])
        actions, refusal = plan(params, before)
        if refusal:
            module.fail_json(msg=refusal, topic=before)
        if actions and not module.check_mode:
            apply(admin, params, before)
    except Exception as exc:  # the client's errors carry Kafka's own explanation
        module.fail_json(msg=f"Kafka admin call for topic {params['name']} failed: {exc}")
    after = declared_state(params, before) if params["state"] == "present" else None
    result: dict[str, Any] = {"changed": bool(actions), "actions": actions}
    if after is not None:
        result["topic"] = after
    if module._diff:
        result["diff"] = {
            "before": declared_view(before, params),
            "after": declared_view(after, params),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
