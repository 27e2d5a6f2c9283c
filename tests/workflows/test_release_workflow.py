"""RingRelease on a real Temporal dev server with the sandbox providers."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from ringctl.client.lookup import ended_status
from ringctl.client.releases import send, start_release
from ringctl.core.errors import ReleaseError
from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld
from ringctl.workflows.models import (
    AbortRequest,
    ApproveRequest,
    PauseRequest,
    RegionState,
    ReleaseState,
    ResumeRequest,
    RingState,
    RollbackRequest,
)
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, make_plan, region, ring
from tests.support.release_waits import awaiting, wait_for
from tests.support.workers import sandbox_worker

STAGE_REGIONS = ["staging-1", "canary-1", "us-east-1", "eu-west-1", "ap-northeast-1", "ap-northeast-3"]


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
        await send(
            client, SERVICE, RingRelease.approve, ApproveRequest(ring="japan", by="release-manager", comment="ok")
        )
        status = await ended_status(handle, rpc_timeout=None)

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
    assert status.events[0].action == "start"
    assert [e.ring for e in status.events if e.action == "promote"] == ["staging", "canary", "na-eu", "japan"]
    assert status.events[0].actor == "ci-pipeline"
    assert any(e.action == "approve" and e.actor == "release-manager" for e in status.events)
    results = status.rings[0].gate_results
    assert results and results[0].region == "staging-1" and results[0].decision == "pass"
    assert results[0].threshold == 0.01 and results[0].value is not None


async def test_approval_is_refused_for_unknown_ring_ring_not_waiting_and_non_approver(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        await wait_for(handle, awaiting("japan"))
        history_before = len((await handle.fetch_history()).events)
        refusals = {
            "atlantis": "unknown ring 'atlantis'",
            "canary": "ring 'canary' is not waiting for approval (it is promoted)",
        }
        for ring_name, message in refusals.items():
            with pytest.raises(ReleaseError, match=message.replace("(", r"\(").replace(")", r"\)")):
                await send(client, SERVICE, RingRelease.approve, ApproveRequest(ring=ring_name, by="release-manager"))
        with pytest.raises(ReleaseError, match="'mallory' may not approve ring 'japan'"):
            await send(client, SERVICE, RingRelease.approve, ApproveRequest(ring="japan", by="mallory"))
        with pytest.raises(ReleaseError, match="release checkout@1.9.9 is not running"):
            await send(
                client, "checkout@1.9.9", RingRelease.approve, ApproveRequest(ring="japan", by="release-manager")
            )
        assert len((await handle.fetch_history()).events) == history_before, "refused updates write nothing"
        status = await handle.query(RingRelease.status)
        assert status.rings[-1].approvals == []
        await handle.terminate("test done")


async def test_gate_failure_rolls_back_in_reverse_ring_order_and_never_touches_japan(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.bad_gates["eu-west-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        status = await ended_status(handle, rpc_timeout=None)

    assert status.state is ReleaseState.ROLLED_BACK
    assert "gate breach: error-ratio in eu-west-1" in status.reason
    rollbacks = [call.region for call in world.calls if call.action == "rollback"]
    assert set(rollbacks[:2]) == {"us-east-1", "eu-west-1"}, "the failed ring first, in parallel"
    assert rollbacks[2:] == ["canary-1", "staging-1"], "then earlier rings, in reverse order"
    touched = {call.region for call in world.calls}
    assert not touched & {"ap-northeast-1", "ap-northeast-3"}, "Japan is never touched"
    assert all(world.image(r) == "sandbox/app:0" for r in STAGE_REGIONS)
    assert [r.state for r in status.rings] == [RingState.ROLLED_BACK] * 3 + [RingState.PENDING]
    failed = [r for r in status.rings[2].gate_results if r.decision == "fail"]
    assert {r.region for r in failed} == {"eu-west-1"}


async def test_failed_rollout_rolls_back(client: Client, task_queue: str, world: SandboxWorld) -> None:
    world.scenario.bad_rollouts["canary-1"] = {"2.0.0"}
    async with sandbox_worker(client, task_queue, world):
        status = await ended_status(await start(client, task_queue), rpc_timeout=None)
    assert status.state is ReleaseState.ROLLED_BACK
    assert "canary-1: simulated: progress deadline exceeded" in status.reason
    assert status.rings[1].regions[0].state is RegionState.ROLLED_BACK
    assert world.image("canary-1") == world.image("staging-1") == "sandbox/app:0"


async def test_halt_then_resume_retries_the_ring_and_completes(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.bad_gates["canary-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=_halting_rings())
        halted = await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        assert halted.rings[1].state is RingState.HALTED and "gate breach" in halted.reason
        assert world.image("us-east-1") == "sandbox/app:0", "nothing past the halted ring"
        world.scenario.bad_gates.clear()
        await send(client, SERVICE, RingRelease.resume, ResumeRequest(by="oncall", reason="false alarm"))
        await wait_for(handle, awaiting("japan"))
        await send(client, SERVICE, RingRelease.approve, ApproveRequest(ring="japan", by="release-manager"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    assert ("oncall", "resume", "false alarm") in [(e.actor, e.action, e.detail) for e in status.events]


async def test_halt_then_rollback(client: Client, task_queue: str, world: SandboxWorld) -> None:
    world.scenario.bad_gates["canary-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=_halting_rings())
        await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        result = await send(client, SERVICE, RingRelease.rollback, RollbackRequest(by="oncall", reason="bad canary"))
        assert result.message == "rollback started"
        status = await ended_status(handle, rpc_timeout=None)
        with pytest.raises(ReleaseError, match="has ended"):
            await send(client, SERVICE, RingRelease.rollback, RollbackRequest(by="oncall", reason="again"))
    assert status.state is ReleaseState.ROLLED_BACK
    assert status.reason == "rollback requested by oncall: bad canary"
    assert world.image("canary-1") == world.image("staging-1") == "sandbox/app:0"


async def test_halt_then_abort_leaves_regions_as_they_are(client: Client, task_queue: str, world: SandboxWorld) -> None:
    world.scenario.bad_gates["canary-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=_halting_rings())
        await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        await send(client, SERVICE, RingRelease.abort, AbortRequest(by="oncall", reason="investigating"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.ABORTED
    assert world.image("canary-1") == "registry.example.com/checkout:2.0.0"
    assert not [c for c in world.calls if c.action == "rollback"]


async def test_pause_during_bake_holds_promotion_until_resume(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    rings = [ring("canary", region("canary-1"), bake="3s")]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings)
        await wait_for(handle, lambda s: s.rings[1].state is RingState.BAKING)
        await send(client, SERVICE, RingRelease.pause, PauseRequest(by="oncall", reason="look"))
        with pytest.raises(ReleaseError, match="already paused"):
            await send(client, SERVICE, RingRelease.pause, PauseRequest(by="oncall"))
        paused = await handle.query(RingRelease.status)
        assert paused.state is ReleaseState.PAUSED and paused.paused
        await asyncio.sleep(4.5)
        held = await handle.query(RingRelease.status)
        assert held.rings[1].state is RingState.BAKING, "the bake does not finish while paused"
        assert held.rings[1].evaluations >= 3, "gates keep running while paused"
        await send(client, SERVICE, RingRelease.resume, ResumeRequest(by="oncall"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    assert [e.action for e in status.events if e.actor == "oncall"] == ["pause", "resume"]


async def test_second_release_of_the_same_service_is_refused(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        with pytest.raises(ReleaseError, match=r"'checkout' already has a release in flight: checkout@2.0.0"):
            await start(client, task_queue, version="2.0.1")
        await send(client, SERVICE, RingRelease.rollback, RollbackRequest(by="oncall", reason="make room"))
        assert (await ended_status(handle, rpc_timeout=None)).state is ReleaseState.ROLLED_BACK
        again = await start(client, task_queue, version="2.0.1")
        assert (await again.query(RingRelease.status)).release_id == "checkout@2.0.1"
        await again.terminate("test done")


async def test_rollback_while_waiting_for_approval(client: Client, task_queue: str, world: SandboxWorld) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        await wait_for(handle, awaiting("japan"))
        await send(client, SERVICE, RingRelease.rollback, RollbackRequest(by="oncall", reason="customer report"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.ROLLED_BACK
    assert all(world.image(r) == "sandbox/app:0" for r in STAGE_REGIONS)
    # issue 13: japan showed awaiting_approval after the rollback; it never started, and says so
    japan = status.rings[-1]
    assert japan.state is RingState.PENDING and japan.message == "not started: the release rolled back"
    # the Temporal UI shows the run as what it is: failed, typed rolled_back, not a green COMPLETED
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.FAILED


async def test_status_query_reports_rings_regions_gates_and_actors(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)
        status = await wait_for(handle, awaiting("japan"))
        await handle.terminate("test done")
    assert status.state is ReleaseState.AWAITING_APPROVAL
    assert (status.release_id, status.service, status.version) == ("checkout@2.0.0", SERVICE, "2.0.0")
    assert status.image == "registry.example.com/checkout:2.0.0" and status.started_by == "ci-pipeline"
    assert status.current_ring == "japan" and status.reason == "waiting for 1 approval of ring japan (release-manager)"
    canary = status.rings[1]
    assert canary.started_at and canary.finished_at and canary.finished_at >= canary.started_at
    assert canary.regions[0].state is RegionState.PROMOTED and canary.regions[0].since
    result = canary.gate_results[-1]
    assert (result.gate, result.region, result.decision, result.comparison) == ("error-ratio", "canary-1", "pass", "<=")
    assert 'region="canary-1"' in result.query and "[10s]" in result.query
    assert {u.target.region for u in status.undo_records} == set(STAGE_REGIONS[:4])
    assert all(u.previous_image == "sandbox/app:0" for u in status.undo_records)
    description = await handle.describe()
    attrs = description.typed_search_attributes
    from ringctl.core.searchattributes import SA_RING, SA_SERVICE, SA_STATE, SA_VERSION

    assert attrs.get(SA_SERVICE) == SERVICE and attrs.get(SA_VERSION) == "2.0.0"
    assert attrs.get(SA_RING) == "japan" and attrs.get(SA_STATE) == "awaiting_approval"


def _halting_rings() -> list[dict[str, object]]:
    return [
        ring("canary", region("canary-1"), on_failure="halt"),
        ring("na-eu", region("us-east-1")),
        ring(
            "japan",
            region("ap-northeast-1", "JP"),
            approval={"required": True, "approvers": ["release-manager"]},
        ),
    ]
