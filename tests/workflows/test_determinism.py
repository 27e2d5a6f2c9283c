"""The workflow code is deterministic by construction: no clock, randomness, I/O or threads in its source.

ringctl's workflow modules are passed through Temporal's sandbox (one import per process, not per
run), so the sandbox no longer intercepts these at run time; this reads every module for them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.py"))
#: Modules whose use in workflow code would make a replay differ or do I/O.
FORBIDDEN_MODULES = {
    "time",
    "random",
    "secrets",
    "uuid",
    "os",
    "socket",
    "subprocess",
    "threading",
    "concurrent",
    "httpx",
    "requests",
    "kubernetes",
    "sqlite3",
    "logging",
    "structlog",
    "holidays",
    "zoneinfo",
}
#: Calls that read the clock or do I/O whatever module they come from (``workflow.now()`` is the clock).
FORBIDDEN_CALLS = {"now", "utcnow", "today", "fromtimestamp", "open", "print", "input", "sleep_sync"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            names = []
        found += [f"{path.name}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            receiver = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in FORBIDDEN_CALLS and receiver != "workflow":
                found.append(f"{path.name}:{node.lineno}: calls {receiver + '.' if receiver else ''}{name}()")
    return found


def test_every_workflow_module_is_read() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ring_release.py", "gating.py", "state.py", "regions.py"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_module_has_no_clock_randomness_or_io(path: Path) -> None:
    assert _violations(path) == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import random\nfrom datetime import datetime\nx = datetime.now()\nopen('f')\n", encoding="utf-8")
    assert _violations(bad) == ["bad.py:1: imports random", "bad.py:3: calls datetime.now()", "bad.py:4: calls open()"]
