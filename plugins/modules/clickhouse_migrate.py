#!/usr/bin/python
# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: clickhouse_migrate
short_description: Apply NNNN_description.sql schema migrations to ClickHouse
description:
  - Applies the C(NNNN_description.sql) files of a directory to a ClickHouse server in
    version order, through L(clickhouse-driver,https://clickhouse-driver.readthedocs.io/)
    over the native protocol.
  - Records each applied file (version, name, sha256 checksum, applied_at, duration_ms,
    applied_by) in C(<database>.schema_migrations) and applies only pending files.
  - A file holds one or more statements separated by C(;). Semicolons inside strings,
    quoted identifiers and comments do not split. ClickHouse DDL is not transactional,
    so progress is recorded after every statement; a file that fails resumes at the
    failed statement on the next run and is recorded as applied only when all of its
    statements succeeded.
  - An applied file whose content changed makes the module fail, naming the file,
    unless O(allow_checksum_change=true).
  - Two concurrent runs never apply the same migration twice; a lock row in
    C(<database>.schema_migrations_lock) serializes them, and a lock left by a dead run
    expires after O(lock_ttl) seconds.
  - "Placeholders C(${name}) in the SQL are replaced before execution. Built-in
    variables: C(db_data), C(db_analytics), C(on_cluster) (C(ON CLUSTER `name`) when
    O(cluster) is set, else empty), C(replicated) (C(Replicated) when O(cluster) is
    set, else empty; use it as an engine prefix), C(ttl_raw_days), C(ttl_agg_days).
    O(variables) adds or overrides names. C($${) writes a literal C(${). ClickHouse
    macros such as C({shard}) and C({replica}) are left as they are. An unknown
    placeholder fails before anything runs."
  - The same engine applies the files to an embedded chdb database with
    C(make schema-dev DB=PATH).
  - O(login_user) needs CREATE, INSERT and SELECT on the databases used.
version_added: 0.1.0
author:
  - okx_hft.infra contributors (@okx-hft)
extends_documentation_fragment:
  - okx_hft.infra.clickhouse
attributes:
  check_mode:
    description: Lists the pending files and their statements; executes nothing and
      creates no bookkeeping table.
    support: full
  diff_mode:
    description: Shows the rendered statements that run (or would run).
    support: full
options:
  path:
    description:
      - Directory with the C(NNNN_description.sql) files, on the host that runs the module.
      - Other C(.sql) names are an error; other file types are ignored.
    type: path
    required: true
  database:
    description: Database of the bookkeeping tables; created if missing.
    type: str
    default: hft_meta
  target:
    description:
      - Apply migrations up to and including this version. Default is all.
      - A target below the applied version fails; the engine does not roll back.
    type: int
  allow_checksum_change:
    description:
      - Accept applied files whose content changed (warns; the edit is not re-applied).
    type: bool
    default: false
  variables:
    description: Values for C(${name}) placeholders; they override the built-in ones.
    type: dict
    default: {}
  data_database:
    description: Value of C(${db_data}).
    type: str
    default: hft_data
  analytics_database:
    description: Value of C(${db_analytics}).
    type: str
    default: hft_analytics
  ttl_raw_days:
    description:
      - Value of C(${ttl_raw_days}), retention of raw tables in days.
      - 1 to 28999; ClickHouse's DateTime ends in 2106, a longer TTL would wrap around.
    type: int
    default: 30
  ttl_agg_days:
    description:
      - Value of C(${ttl_agg_days}), retention of aggregates in days.
      - 1 to 28999, like O(ttl_raw_days).
    type: int
    default: 365
  cluster:
    description:
      - Name of the cluster in C(remote_servers). When set, C(${on_cluster}) renders
        C(ON CLUSTER `name`) and C(${replicated}) renders C(Replicated).
      - Run the module once per cluster (C(run_once)); bookkeeping and lock live on the
        node the module connects to.
    type: str
  lock_timeout:
    description: Seconds to wait for another run's lock before failing.
    type: float
    default: 60
  lock_ttl:
    description:
      - Seconds after which a lock expires unless renewed. Each applied statement renews
        it, so it must exceed the slowest single statement.
    type: int
    default: 600
notes:
  - The checksum is the sha256 of the file as stored, before rendering; changing a
    variable does not re-apply applied files.
  - Supports ClickHouse 18.16 and later for its own bookkeeping; the SQL files decide
    which server version they need (files/sql of this collection needs a current one).
"""

EXAMPLES = r"""
# path is on the host that runs the module: copy files/sql there first
# (playbooks/migrate.yml does this in a private temporary directory).
- name: Apply the collection's tick-data schema
  okx_hft.infra.clickhouse_migrate:
    path: /opt/okx_hft/sql
    login_host: 127.0.0.1
    login_port: 9003
    login_user: admin
    login_password: "{{ vault_clickhouse_admin_password }}"

- name: Cluster with one-year raw retention, up to version 5 only
  okx_hft.infra.clickhouse_migrate:
    path: /opt/okx_hft/sql
    cluster: hft
    ttl_raw_days: 365
    target: 5
    login_password: "{{ vault_clickhouse_admin_password }}"
  run_once: true

- name: What would run (check mode, with the statements as a diff)
  okx_hft.infra.clickhouse_migrate:
    path: /opt/okx_hft/sql
  check_mode: true
  diff: true
"""

RETURN = r"""
applied:
  description: Files applied by this run, in order (empty in check mode).
  returned: always
  type: list
  elements: str
  sample: ["0005_funding_mark.sql", "0006_ohlcv.sql"]
pending:
  description: Files that would be applied (check mode), or that remain pending after
    the run because their version is above O(target).
  returned: always
  type: list
  elements: str
  sample: ["0006_ohlcv.sql"]
current_version:
  description: Highest applied version after the run (before it, in check mode); null if none.
  returned: always
  type: int
  sample: 6
statements:
  description: Rendered statements per file that ran (or would run).
  returned: always
  type: dict
  sample: {"0001_databases.sql": ["CREATE DATABASE IF NOT EXISTS hft_data"]}
server_version:
  description: Version string of the ClickHouse server.
  returned: success
  type: str
  sample: 26.3.4.1
"""

from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.okx_hft.infra.plugins.module_utils import clickhouse, migrations


def argument_spec() -> dict[str, dict[str, Any]]:
    spec = clickhouse.connection_argument_spec()
    spec.update(
        path={"type": "path", "required": True},
        database={"type": "str", "default": "hft_meta"},
        target={"type": "int"},
        allow_checksum_change={"type": "bool", "default": False},
        variables={"type": "dict", "default": {}},
        data_database={"type": "str", "default": "hft_data"},
        analytics_database={"type": "str", "default": "hft_analytics"},
        ttl_raw_days={"type": "int", "default": 30},
        ttl_agg_days={"type": "int", "default": 365},
        cluster={"type": "str"},
        lock_timeout={"type": "float", "default": 60.0},
        lock_ttl={"type": "int", "default": 600},
    )
    return spec


def build_options(params: dict[str, Any], check_mode: bool) -> migrations.Options:
    variables = migrations.default_variables(
        data_db=params["data_database"],
        analytics_db=params["analytics_database"],
        cluster=params["cluster"],
        ttl_raw_days=params["ttl_raw_days"],
        ttl_agg_days=params["ttl_agg_days"],
    )
    variables.update({str(k): str(v) for k, v in params["variables"].items()})
    return migrations.Options(
        path=Path(params["path"]),
        database=params["database"],
        variables=variables,
        target=params["target"],
        allow_checksum_change=params["allow_checksum_change"],
        check_mode=check_mode,
        lock_timeout=params["lock_timeout"],
        lock_ttl=params["lock_ttl"],
    )


def diff_of(result: migrations.MigrationResult) -> dict[str, str]:
    lines = []
    for name, statements in result.statements.items():
        lines.append(f"-- {name}")
        lines.extend(f"{sql};" for sql in statements)
    return {"before": "", "after": "\n".join(lines) + ("\n" if lines else "")}


def run(module: AnsibleModule) -> None:
    options = build_options(module.params, module.check_mode)
    try:
        migrations.check_ttl_days(options.variables)
    except migrations.VariableError as exc:
        module.fail_json(msg=str(exc))
    params = clickhouse.ConnectionParams.from_params(module.params)
    try:
        executor = clickhouse.connect(params)
    except ConnectionError as exc:
        module.fail_json(msg=str(exc))
    try:
        version = executor.server_version()
        result = migrations.migrate(executor, options)
    except migrations.MigrationError as exc:
        executor.close()
        module.fail_json(msg=str(exc), database=options.database)
    except Exception as exc:  # a server error outside a migration statement
        executor.close()
        module.fail_json(
            msg=f"ClickHouse failed while reading or writing {options.database}.schema_migrations*:"
            f" {exc}. Check that {params.user} may CREATE, SELECT and INSERT there."
        )
    executor.close()
    for warning in result.warnings:
        module.warn(warning)
    outcome: dict[str, Any] = {
        "changed": bool(result.pending if module.check_mode else result.applied),
        "applied": result.applied,
        "pending": result.pending,
        "current_version": result.current_version,
        "statements": result.statements,
        "server_version": version,
    }
    if module._diff:
        outcome["diff"] = diff_of(result)
    module.exit_json(**outcome)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    error = clickhouse.driver_import_error()
    if error is not None:
        module.fail_json(msg=missing_required_lib(clickhouse.DRIVER_PACKAGE), exception=str(error))
    run(module)


if __name__ == "__main__":
    main()
