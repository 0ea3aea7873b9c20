#!/usr/bin/python
# Copyright: (c) 2026, okx_hft.infra contributors
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: clickhouse_data_quality
short_description: Run the tick data's quality checks (SQL files) against ClickHouse
description:
  - Runs each C(NN_name.sql) file of O(path) (the collection's C(files/sql/checks)) over
    a window of the stored data and reports, per check, how many rows offend and the
    first O(max_rows) of them.
  - A check file is one SELECT returning the offending rows, with a header of
    C(-- name:), C(-- summary:) and C(-- threshold:) lines (the offending rows
    tolerated). The collection's checks are freshness per instrument and channel,
    duplicate trade ids, trade id gaps, order-book sequence chain breaks, 1-minute
    OHLCV candles against the raw ticks, and late or future timestamps.
  - Fails when a check is over its threshold (unless O(fail_on_violation=false)), so a
    cron job or CI step can use the play's exit status.
  - Read-only; reports no change, and runs the same in check mode.
  - The same engine runs on an embedded chdb directory with C(make quality DB=PATH).
  - O(login_user) needs SELECT on the data and analytics databases.
version_added: 0.2.0
author:
  - okx_hft.infra contributors (@okx-hft)
extends_documentation_fragment:
  - okx_hft.infra.clickhouse
attributes:
  check_mode:
    description: Runs the checks (they only read).
    support: full
  diff_mode:
    description: No diff; nothing changes.
    support: none
options:
  path:
    description: Directory with the check files, on the host that runs the module.
    type: path
    required: true
  checks:
    description: Names of the checks to run; all when empty. An unknown name fails.
    type: list
    elements: str
    default: []
  as_of:
    description:
      - End of the window checked, C(YYYY-MM-DD HH:MM:SS[.fff]) in UTC; also the "now"
        the freshness and future-timestamp checks compare with. Default is now.
    type: str
  window_hours:
    description: Length of the window before O(as_of).
    type: float
    default: 24
  since:
    description: Start of the window (instead of O(window_hours)), same format as O(as_of).
    type: str
  limits:
    description:
      - Limits the checks read, by name. C(stale_trades_s) (900), C(stale_books_s)
        (900), C(stale_bbo_s) (900), C(stale_tickers_s) (900), C(stale_index_s) (180),
        C(stale_funding_s) (300), C(stale_mark_s) (60) are the freshness limits in
        seconds; C(max_delay_ms) (5000) and C(max_skew_ms) (1000) bound the
        exchange-to-ingest delay and the clock skew.
    type: dict
    default: {}
  thresholds:
    description: Offending rows tolerated, by check name; overrides the file's header.
    type: dict
    default: {}
  max_rows:
    description: Offending rows returned per failed check (0 returns counts only).
    type: int
    default: 20
  fail_on_violation:
    description: Fail when a check is over its threshold.
    type: bool
    default: true
  data_database:
    description: Value of C(${db_data}).
    type: str
    default: hft_data
  analytics_database:
    description: Value of C(${db_analytics}).
    type: str
    default: hft_analytics
notes:
  - The checks use window functions and need ClickHouse 21.x or later (the collection's
    schema needs a current release anyway). Debian 12's 18.16 cannot run them.
"""

EXAMPLES = r"""
# path is on the host that runs the module: copy files/sql/checks there first
# (playbooks/quality.yml does this in a private temporary directory).
- name: Check the last day of tick data
  okx_hft.infra.clickhouse_data_quality:
    path: /tmp/okx-hft-checks
    login_host: 127.0.0.1
    login_port: 9003
    login_user: analyst
    login_password: "{{ vault_clickhouse_analyst_password }}"

- name: Only the trade checks over a given hour, two gaps tolerated
  okx_hft.infra.clickhouse_data_quality:
    path: /tmp/okx-hft-checks
    checks: [duplicate_trade_ids, trade_id_gaps]
    since: "2026-12-07 10:00:00"
    as_of: "2026-12-07 11:00:00"
    thresholds: {trade_id_gaps: 2}
    login_password: "{{ vault_clickhouse_analyst_password }}"
"""

RETURN = r"""
results:
  description: One entry per check, in file order.
  returned: success
  type: list
  elements: dict
  sample:
    - name: trade_id_gaps
      summary: trade ids missing between consecutive stored trades of an instrument
      threshold: 0
      offending: 1
      passed: false
      columns: [inst_id, prev_trade_id, trade_id, count, missing]
      rows: [["BTC-USDT", 338476311, 338476320, 1, 8]]
      duration_ms: 41
failed_checks:
  description: Names of the checks over their threshold.
  returned: success
  type: list
  elements: str
  sample: [trade_id_gaps]
window:
  description: The window checked (UTC).
  returned: success
  type: dict
  sample: {since: "2026-12-06 11:00:00.000", until: "2026-12-07 11:00:00.000"}
report:
  description: The results as readable lines (one per check, then the offending rows).
  returned: success
  type: str
"""

from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.okx_hft.infra.plugins.module_utils import (
    clickhouse,
    migrations,
    quality,
)


def argument_spec() -> dict[str, dict[str, Any]]:
    spec = clickhouse.connection_argument_spec()
    spec.update(
        path={"type": "path", "required": True},
        checks={"type": "list", "elements": "str", "default": []},
        as_of={"type": "str"},
        window_hours={"type": "float", "default": 24.0},
        since={"type": "str"},
        limits={"type": "dict", "default": {}},
        thresholds={"type": "dict", "default": {}},
        max_rows={"type": "int", "default": 20},
        fail_on_violation={"type": "bool", "default": True},
        data_database={"type": "str", "default": "hft_data"},
        analytics_database={"type": "str", "default": "hft_analytics"},
    )
    return spec


def check_all(executor: quality.Executor, params: dict[str, Any]) -> dict[str, Any]:
    """Run the selected checks; the module's result (without changed/failed)."""
    checks = quality.select(quality.discover(Path(params["path"])), params["checks"])
    base = migrations.default_variables(params["data_database"], params["analytics_database"])
    win = quality.window(params["as_of"], params["window_hours"], params["since"])
    values = quality.variables(base, win, params["limits"])
    try:
        thresholds = {str(k): int(v) for k, v in params["thresholds"].items()}
    except (TypeError, ValueError) as exc:
        raise quality.QualityError(f"thresholds must be whole numbers: {exc}") from None
    results = quality.run(executor, checks, values, params["max_rows"], thresholds)
    return {
        "results": [r.as_dict() for r in results],
        "failed_checks": [r.name for r in results if not r.passed],
        "window": {"since": values["since"], "until": values["until"]},
        "report": quality.report(results),
    }


def run(module: AnsibleModule) -> None:
    params = clickhouse.ConnectionParams.from_params(module.params)
    try:
        executor = clickhouse.connect(params)
    except ConnectionError as exc:
        module.fail_json(msg=str(exc))
    try:
        quality.require_server(executor.server_version())
        outcome = check_all(executor, module.params)
    except (quality.QualityError, migrations.MigrationError) as exc:
        module.fail_json(msg=str(exc))
    finally:
        executor.close()
    failed = outcome["failed_checks"]
    if failed and module.params["fail_on_violation"]:
        module.fail_json(
            msg=f"data-quality check(s) over their threshold: {', '.join(failed)}. The "
            "offending rows are in `results` and `report`; fix the data or the ingest, or "
            "raise the check's threshold if the finding is expected.",
            changed=False,
            **outcome,
        )
    module.exit_json(changed=False, **outcome)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    error = clickhouse.driver_import_error()
    if error is not None:
        module.fail_json(msg=missing_required_lib(clickhouse.DRIVER_PACKAGE), exception=str(error))
    run(module)


if __name__ == "__main__":
    main()
