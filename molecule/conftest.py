"""Fixtures shared by every scenario's testinfra tests.

pytest loads this file for molecule/<scenario>/tests because the repository's
pyproject.toml makes the repository root pytest's rootdir.
"""

import os
import subprocess
from pathlib import Path

import pytest


def _converge(*args: str) -> subprocess.CompletedProcess[str]:
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(scenario / "converge.yml"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )  # fmt: skip


# Session scope: a module's fixture may converge again (it only hands out the function).
@pytest.fixture(scope="session")
def converge_again():
    """Run the scenario's converge.yml again, with extra ansible-playbook arguments
    (e.g. "-e", '{"var": value}'); returns the finished process, whatever its exit."""
    return _converge
