"""What the collection tarball carries: what users of the installed collection need,
and nothing of the development checkout (galaxy.yml `build_ignore`).

The tarball is built by `ansible-galaxy collection build` from a copy of this checkout
(every file git knows of) into which the files a working checkout also has are
planted: the lab's generated passwords (inventories/<site>/.secrets/, written by
`make lab`), a vault file, the virtualenv, the collection link and the caches that
`make venv` / `make test` create, and the ingestor's build output. A pattern missing
from build_ignore lets one of them into the tarball and fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Planted into the copy: (path, content). What a checkout has after `make venv`,
# `make lab` and `make test`, and what a user creates following the example's README.
PLANTED = {
    "inventories/lab/.secrets/redis/ingest": "lab-redis-password\n",
    "inventories/lab/.secrets/clickhouse/admin": "lab-clickhouse-password\n",
    "inventories/example/.secrets/grafana/admin": "generated-password\n",
    "inventories/example/group_vars/all/vault.yml": "vault_redis_ingest_password: x\n",
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".venv/.installed": "",
    ".cache/artifacts/prometheus/3.0/prometheus.tar.gz": "not a tarball\n",
    ".pytest_cache/README.md": "cache\n",
    ".ruff_cache/CACHEDIR.TAG": "tag\n",
    ".ansible/tmp/x": "x\n",
    "ingestor/build/lib/okx_ingestor/_speedups.so": "elf\n",
    "ingestor/src/okx_ingestor/_speedups.cpython-311-x86_64-linux-gnu.so": "elf\n",
    "ingestor/src/okx_ingestor.egg-info/PKG-INFO": "Name: okx-hft-ingestor\n",
    "plugins/filter/__pycache__/platform.cpython-311.pyc": "",
}

# Top-level entries of the checkout that are for developing the collection only.
DEV_ONLY_TOP = {
    ".venv",
    ".collections",
    ".cache",
    ".ci",
    ".config",
    ".ansible",
    ".ansible-lint",
    ".yamllint",
    ".gitignore",
    ".pytest_cache",
    ".ruff_cache",
    "molecule",
    "tests",
    "scripts",
    "bench",
    "Makefile",
    "ansible.cfg",
    "pyproject.toml",
    "requirements-dev.txt",
}

# What users of the installed collection need (README.md, "Use it on your servers").
REQUIRED = [
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "meta/runtime.yml",
    "requirements.yml",
    "site.yml",
    "playbooks/site.yml",
    "playbooks/migrate.yml",
    "playbooks/tuning_audit.yml",
    "playbooks/templates/summary.j2",
    "plugins/filter/platform.py",
    "plugins/filter/cpulist.py",
    "plugins/modules/clickhouse_migrate.py",
    "plugins/module_utils/migrations.py",
    "plugins/module_utils/clickhouse.py",
    "files/sql/README.md",
    "files/sql/0001_databases.sql",
    "docs/architecture.md",
    "changelogs/changelog.yaml",
    # The README tells users to copy the example inventory.
    "inventories/example/README.md",
    "inventories/example/hosts.yml",
    "inventories/example/group_vars/all/platform.yml",
    "inventories/example/group_vars/all/vault.yml.example",
    # What the ingestor role builds its package from (roles/ingestor/tasks/install.yml).
    "ingestor/pyproject.toml",
    "ingestor/setup.py",
    "ingestor/README.md",
    "ingestor/src/okx_ingestor/cli.py",
    "ingestor/src/okx_ingestor/_speedups.c",
]


def _checkout_files() -> list[str]:
    """The files git tracks (work in progress that is not even added is left out, so
    that a role someone is still writing does not fail this test)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def tarball_names(tmp_path_factory) -> set[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    if not galaxy.exists():
        pytest.skip("ansible-galaxy is not installed next to this Python")
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    for name in _checkout_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for name, content in PLANTED.items():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        if ".secrets" in name:
            target.chmod(0o644)  # as the review found them on the lab controller
    # The link `make venv` creates (Makefile: COLL_LINK).
    link = src / ".collections/ansible_collections/okx_hft/infra"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../..")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_LOCAL_TEMP"] = str(work / "tmp")
    env["ANSIBLE_HOME"] = str(work / "home")
    subprocess.run(
        [str(galaxy), "collection", "build", "--output-path", str(work / "dist"), str(src)],
        check=True,
        capture_output=True,
        env=env,
        cwd=work,
    )
    (built,) = (work / "dist").glob("okx_hft-infra-*.tar.gz")
    with tarfile.open(built) as tar:
        names = {member.name for member in tar.getmembers() if not member.isdir()}
    print(f"{built.name}: {len(names)} files")
    return names


def test_no_secrets(tarball_names):
    leaked = sorted(
        n for n in tarball_names if ".secrets" in n.split("/") or n.endswith("/vault.yml")
    )
    assert not leaked, leaked


def test_no_development_files(tarball_names):
    dev = sorted(n for n in tarball_names if n.split("/")[0] in DEV_ONLY_TOP)
    assert not dev, dev


def test_no_lab_only_files(tarball_names):
    # The lab needs the checkout (make lab: .config/molecule, scripts/, Docker).
    lab = sorted(
        n
        for n in tarball_names
        if n.startswith("inventories/lab/") or n == "playbooks/lab_host.yml"
    )
    assert not lab, lab


def test_no_ingestor_development_or_build_files(tarball_names):
    dev = sorted(
        n
        for n in tarball_names
        if n.startswith(("ingestor/tests/", "ingestor/scripts/", "ingestor/build/"))
        or n.endswith((".so", ".pyc"))
        or ".egg-info/" in n
        or "__pycache__" in n
    )
    assert not dev, dev


def test_what_users_need_is_there(tarball_names):
    tracked = _checkout_files()
    roles = sorted({n.split("/")[1] for n in tracked if n.startswith("roles/") and "/tasks/" in n})
    required = [
        *REQUIRED,
        *(f"roles/{role}/{name}" for role in roles for name in ("tasks/main.yml", "README.md")),
        *(
            f"roles/{role}/{name}"
            for role in roles
            if role != "artifact"
            for name in ("defaults/main.yml", "meta/argument_specs.yml")
        ),
    ]
    missing = [name for name in required if name not in tarball_names]
    assert not missing, missing


def test_every_role_plugin_and_migration_is_there(tarball_names):
    missing = [
        name
        for name in _checkout_files()
        if name.startswith(("roles/", "plugins/", "files/sql/", "docs/", "playbooks/"))
        and name != "playbooks/lab_host.yml"
        and name not in tarball_names
    ]
    assert not missing, missing
