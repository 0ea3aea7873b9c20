"""Load a file of this repository as a module: a filter plugin, or a script a role
installs without a .py suffix (SourceFileLoader does not need one)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_source(name: str, relative_path: str) -> ModuleType:
    """The module `name` executed from ROOT / relative_path."""
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / relative_path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec, relative_path
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def trust(value):
    """value with every string marked as a template Ansible may render (ansible-core
    2.19 renders only trusted strings), through lists and dicts."""
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trust(item) for item in value]
    if isinstance(value, dict):
        return {key: trust(item) for key, item in value.items()}
    return value
