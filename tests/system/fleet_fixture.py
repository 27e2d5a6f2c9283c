"""The session's fleet: one real Kubernetes control plane per kube context of the shipped plan.

Started once per session (see :mod:`tests.support.fleet`), stopped at its end. Locally a control
plane that cannot be built skips the tests that use it; with ``CI=true`` that fails them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.components import require
from tests.support.fleet import Fleet


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Eleven KWOK clusters, one per kube context, each with the plan's services at their previous image."""
    try:
        Fleet.build()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        require(False, f"the Kubernetes test control plane cannot be built (scripts/testenv build):\n{exc}")
    result = Fleet(tmp_path_factory.mktemp("fleet"))
    try:
        result.start()
    except Exception as exc:  # noqa: BLE001 - whatever failed, leave no cluster behind
        result.stop()
        pytest.fail(f"the fleet did not start: {exc}")
    starts = {c.context: round(c.start_seconds, 1) for c in result.clusters.values()}
    print(f"\nfleet started in {result.start_seconds:.1f} s: {json.dumps(starts)}", file=sys.stderr)
    try:
        yield result
    finally:
        result.stop()
