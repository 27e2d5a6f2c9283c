"""The code's shape, checked like behaviour: lint, format, strict types, layers, module sizes, one package.

Each check runs the tool a developer runs (``ruff``, ``mypy``, ``lint-imports``
from the virtualenv) so a red check reads the same here as in a terminal.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: "Small modules (about 400 lines at most)".
MAX_MODULE_LINES = 420


def _run(*command: str, timeout: float = 300) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",), ("lint-imports",)],
    ids=["ruff-check", "ruff-format", "mypy-strict", "import-layers"],
)
def test_static_check(command: tuple[str, ...]) -> None:
    _run(str(BIN / command[0]), *command[1:])


def test_every_module_is_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in ("ringctl", "workflows", "activities")
        for path in (ROOT / folder).rglob("*.py")
        if path.relative_to(ROOT).parts[:2] not in (("ringctl", "workflows"), ("ringctl", "activities"))  # links
    }
    assert sizes, "no modules found"
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools writes build/ beside the sources: build a copy
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "rings.yaml", "ringctl", "workflows", "activities"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"symlinks": True} if copy is shutil.copytree else {}))
    wheels = tmp_path / "wheels"
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)
    )
    (wheel,) = wheels.glob("ringctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"ringctl"}
    for module in ("ringctl/workflows/ring_release.py", "ringctl/activities/region.py", "ringctl/core/plan.py"):
        assert module in names
    assert "ringctl/data/rings.yaml" in names
