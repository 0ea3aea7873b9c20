"""Each monitoring service runs as its own system user, which the inventory can change.

Prometheus, Alertmanager, node_exporter and redis_exporter all ran as Debian's shared
`prometheus` user, fixed in each role's vars/main.yml (which beats the inventory). Now
`<role>_user` / `<role>_group` are role defaults, documented in argument_specs, distinct
by default; the role creates them for both install methods, the systemd unit runs as
them, and no two roles claim one directory with different owners (/etc/prometheus is
shared: a flip-flop there would break idempotence on the monitoring host).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from repo_source import trust

templating = pytest.importorskip("ansible.template", reason="pip install ansible-core")

ROOT = Path(__file__).resolve().parents[2]
ROLES = {
    "prometheus": "prometheus.service.j2",
    "alertmanager": "alertmanager.service.j2",
    "node_exporter": "node_exporter.service.j2",
    "redis_exporter": "redis_exporter.service.j2",
}


def load(role: str, name: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / name).read_text()) or {}


def templar(role: str, check_mode: bool = False, **overrides):
    from ansible.parsing.dataloader import DataLoader

    variables = {**trust(load(role, "defaults/main.yml")), **trust(load(role, "vars/main.yml"))}
    variables.update(
        ansible_facts={"architecture": "x86_64"},
        ansible_check_mode=check_mode,
        ansible_managed="Ansible managed",
        inventory_hostname="mon-1",
        groups={"monitoring": ["mon-1"], "redis": ["mon-1"], "all": ["mon-1"]},
        hostvars={"mon-1": {"ansible_host": "10.0.0.1"}},
        hft_platform={"address": "10.0.0.1", "addresses": {"monitoring": ["10.0.0.1"]}},
        tuning_cpu_plan={},
    )
    variables.update(overrides)
    return templating.Templar(loader=DataLoader(), variables=variables)


def render(role: str, text: str, **overrides):
    return templar(role, **overrides).template(templating.trust_as_template(text))


def unit_lines(role: str, **overrides) -> list[str]:
    """The unit's User= and Group= lines, rendered (the rest of a unit may need the
    collection's filters, which a bare Templar does not load)."""
    source = (ROOT / "roles" / role / "templates" / ROLES[role]).read_text()
    lines = [line for line in source.splitlines() if line.startswith(("User=", "Group="))]
    assert len(lines) == 2, lines
    return render(role, "\n".join(lines), **overrides).splitlines()


@pytest.mark.parametrize("role", ROLES)
def test_user_and_group_are_documented_overridable_defaults(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name in (f"{role}_user", f"{role}_group"):
        assert name in defaults, name
        assert name not in load(role, "vars/main.yml"), f"{name} in vars/ beats the inventory"
        assert options[name]["type"] == "str"
        assert options[name]["default"] == defaults[name]
        assert options[name]["description"]


def test_no_two_services_share_a_user_or_a_group():
    users = [load(role, "defaults/main.yml")[f"{role}_user"] for role in ROLES]
    groups = [load(role, "defaults/main.yml")[f"{role}_group"] for role in ROLES]
    assert len(set(users)) == len(users), users
    assert len(set(groups)) == len(groups), groups


@pytest.mark.parametrize("role", ROLES)
def test_the_unit_runs_as_the_role_user_and_group(role):
    defaults = load(role, "defaults/main.yml")
    lines = unit_lines(role)
    assert f"User={defaults[f'{role}_user']}" in lines
    assert f"Group={defaults[f'{role}_group']}" in lines
    lines = unit_lines(role, **{f"{role}_user": "svc-x", f"{role}_group": "grp-x"})
    assert "User=svc-x" in lines and "Group=grp-x" in lines


@pytest.mark.parametrize("role", ROLES)
def test_the_role_creates_its_group_and_user_for_every_install_method(role):
    tasks = load(role, "tasks/install.yml")
    top = {
        module: task
        for task in tasks
        for module in task
        if module in ("ansible.builtin.group", "ansible.builtin.user")
    }
    group = top["ansible.builtin.group"]
    user = top["ansible.builtin.user"]
    for task in (group, user):
        assert "when" not in task, task["name"]
    assert group["ansible.builtin.group"]["name"] == f"{{{{ {role}_group }}}}"
    assert user["ansible.builtin.user"]["name"] == f"{{{{ {role}_user }}}}"
    assert user["ansible.builtin.user"]["group"] == f"{{{{ {role}_group }}}}"
    assert user["ansible.builtin.user"]["shell"] == "/usr/sbin/nologin"
    assert user["ansible.builtin.user"]["system"] is True


def _owned_paths(role: str, check_mode: bool = False) -> dict[str, tuple[str, str]]:
    """{path: (owner, group)} of every directory the role's configure tasks create."""
    owned = {}
    t = templar(role, check_mode=check_mode)
    for task in load(role, "tasks/configure.yml"):
        args = task.get("ansible.builtin.file")
        if not args or args.get("state") != "directory":
            continue
        items = task.get("loop", [args["path"]])
        for item in items:
            t.available_variables = {**t.available_variables, "item": trust(item)}
            path = t.template(templating.trust_as_template(args["path"]))
            owner = t.template(templating.trust_as_template(args["owner"]))
            group = t.template(templating.trust_as_template(args["group"]))
            owned[path] = (owner, group)
    return owned


def test_no_directory_is_claimed_with_two_owners():
    claims: dict[str, set] = {}
    for role in ROLES:
        for path, owner in _owned_paths(role).items():
            claims.setdefault(path, set()).add((role, owner))
    for path, by in claims.items():
        assert len({owner for _, owner in by}) == 1, (path, by)
    assert "/etc/prometheus" in claims  # the shared configuration directory


def test_state_directories_belong_to_their_service():
    assert _owned_paths("prometheus")["/var/lib/prometheus/metrics2"] == (
        "prometheus",
        "prometheus",
    )
    assert _owned_paths("alertmanager")["/var/lib/prometheus/alertmanager"] == (
        "alertmanager",
        "alertmanager",
    )
    assert _owned_paths("node_exporter")["/var/lib/prometheus/node-exporter"] == (
        "root",
        "node-exporter",
    )


def test_check_mode_before_the_user_exists_compares_against_root():
    """A --check run on a host converged before these users existed: the user task
    reports a change (nothing created), so files are compared against root instead of
    failing to look up a user the real run would create first."""
    changed = {"changed": True}
    t = templar(
        "alertmanager",
        check_mode=True,
        alertmanager__user_task=changed,
        alertmanager__group_task=changed,
    )
    owner = t.template(templating.trust_as_template("{{ alertmanager__owner }}"))
    group = t.template(templating.trust_as_template("{{ alertmanager__owner_group }}"))
    assert (owner, group) == ("root", "root")
    t = templar("alertmanager", check_mode=True, alertmanager__user_task={"changed": False})
    assert t.template(templating.trust_as_template("{{ alertmanager__owner }}")) == "alertmanager"
