"""Whether a real test component (Temporal, Prometheus, Kubernetes, Chromium) is there: skip locally, fail in CI."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real component is missing; in CI that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required test component missing in CI: {reason}")
    pytest.skip(reason)


def chromium() -> str:
    """Debian's ``chromium``, the browser of the web view's system test (``apt-get install chromium``).

    ``$CHROMIUM_BINARY`` names another; missing, the test is skipped locally and fails in CI.
    """
    explicit = os.environ.get("CHROMIUM_BINARY")
    found = shutil.which(explicit) if explicit else shutil.which("chromium") or shutil.which("chromium-browser")
    require(found is not None, "chromium not found (apt-get install chromium, or set CHROMIUM_BINARY)")
    return str(found)
