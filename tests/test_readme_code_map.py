"""The README's code map points at code that exists: each ``path:name`` names a file and a definition in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A code-map entry: `` `ringctl/core/planfile.py:load_plan` `` or `` `workflows/state.py:Release.wait` ``.
ENTRY = re.compile(r"`((?:ringctl|workflows|activities)/[\w/]+\.py):([\w.]+)`")


def _code_map() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Code map")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _defines(path: Path, dotted: str) -> bool:
    scope: list[ast.stmt] = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        found = [
            node
            for node in scope
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == part
        ]
        if not found:
            return False
        scope = found[0].body
    return True


def test_every_entry_of_the_code_map_exists() -> None:
    entries = ENTRY.findall(_code_map())
    assert len(entries) >= 30, "the code map has too few entries to be a map"
    missing = [
        f"{path}:{name}" for path, name in entries if not (ROOT / path).is_file() or not _defines(ROOT / path, name)
    ]
    assert missing == []
