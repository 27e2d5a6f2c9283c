"""Whether a real test component (Temporal, Prometheus, the Kubernetes control plane) is there: skip locally, fail in CI."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real component is missing; in CI that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required test component missing in CI: {reason}")
    pytest.skip(reason)
