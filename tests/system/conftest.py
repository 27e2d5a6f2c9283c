"""The system tier: the session's Temporal dev server process (tests/conftest.py), `ringctl worker` processes, the CLI.

Each test gets its own task queue, its own sandbox state directory and its own
worker process, so nothing of one test's worker serves another's release;
releases a test leaves behind are terminated afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringctl.core.binaries import find_binary
from ringctl.core.constants import workflow_id_for
from tests.support.processes import Operator, TemporalServer
from tests.support.stack import Stack

#: The services of the shipped rings.yaml.
SERVICES = ("checkout", "payments")


@pytest.fixture
def stack(temporal_server: TemporalServer, tmp_path: Path) -> Iterator[Stack]:
    """A task queue of this test's own on the session's server; no worker until the test starts one."""
    task_queue = f"system-{uuid.uuid4()}"
    result = Stack(temporal_server, task_queue, tmp_path, Operator(temporal_server.address, task_queue), [])
    result.state_dir.mkdir()
    yield result
    for worker in result.workers:
        worker.stop()
    temporal = find_binary("temporal")
    for service in SERVICES:
        subprocess.run(
            [temporal, "workflow", "terminate", "--workflow-id", workflow_id_for(service)]
            + ["--address", temporal_server.address, "--reason", "test cleanup"],
            capture_output=True,
            timeout=20,
        )


from tests.system.fleet_fixture import fleet  # noqa: E402, F401  (the session fixture)
