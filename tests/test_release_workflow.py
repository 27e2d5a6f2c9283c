"""RingRelease on a real Temporal dev server with the sandbox providers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from temporalio.client import Client, WorkflowHandle

from activities.sandbox import ANY_VERSION, SandboxWorld
from ringctl.errors import ReleaseError
from ringctl.releases import get_status, send, start_release
from tests.conftest import sandbox_worker
from tests.support.plans import SERVICE, make_plan, ring, region
from workflows.models import (
    AbortRequest,
    ApproveRequest,
    PauseRequest,
    RegionState,
    ReleaseState,
    ReleaseStatus,
    ResumeRequest,
    RingState,
    RollbackRequest,
)
from workflows.ring_release import RingRelease

STAGE_REGIONS = ["staging-1", "canary-1", "us-east-1", "eu-west-1", "ap-northeast-1", "ap-northeast-3"]


async def wait_for(handle: WorkflowHandle, predicate: Callable[[ReleaseStatus], bool], timeout: float = 30) -> ReleaseStatus:
    """Poll the status query until ``predicate`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await handle.query(RingRelease.status)
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last status: {status.state} {status.reason}")
        await asyncio.sleep(0.1)


def awaiting(ring: str) -> Callable[[ReleaseStatus], bool]:
    return lambda s: any(r.name == ring and r.state is RingState.AWAITING_APPROVAL for r in s.rings)


async def start(client: Client, task_queue: str, version: str = "2.0.0", **plan: object) -> WorkflowHandle:
    return await start_release(
        client, make_plan(**plan), service=SERVICE, version=version, started_by="ci-pipeline", task_queue=task_queue
    )


async def test_happy_path_goes_through_every_ring_in_order_with_japan_last(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        await wait_for(handle, awaiting("japan"))
        assert world.image("ap-northeast-1") == "sandbox/app:0", "Japan untouched before approval"
        await send(client, SERVICE, RingRelease.approve, ApproveRequest(ring="japan", by="release-manager", comment="ok"))
        status = await handle.result()

    assert status.state is ReleaseState.COMPLETED
    deploys = [call.region for call in world.calls if call.action == "deploy"]
    assert deploys[:2] == ["staging-1", "canary-1"]
    assert set(deploys[2:4]) == {"us-east-1", "eu-west-1"}
    assert set(deploys[4:]) == {"ap-northeast-1", "ap-northeast-3"}
    assert all(world.image(r) == "registry.example.com/checkout:2.0.0" for r in STAGE_REGIONS)
    assert [r.state for r in status.rings] == [RingState.PROMOTED] * 4
    assert all(region.state is RegionState.PROMOTED for r in status.rings for region in r.regions)
    japan = status.rings[-1]
    assert [(a.approver, a.comment) for a in japan.approvals] == [("release-manager", "ok")]
    assert [e.action for e in status.events][:2] == ["start", "promote"]
    assert status.events[0].actor == "ci-pipeline"
    assert any(e.action == "approve" and e.actor == "release-manager" for e in status.events)
    results = status.rings[0].gate_results
    assert results and results[0].region == "staging-1" and results[0].decision == "pass"
    assert results[0].threshold == 0.01 and results[0].value is not None
