"""Comparison gates and bake by evidence in releases (issue 14), on sandbox regions.

The sandbox counts 10,000 requests a second for every version in every region,
1 % failing, 4 % where the scenario breaches the gates. Canary (``canary-1``) is
compared with the regions not reached yet (``us-east-1``, ``eu-west-1``, on the
version the release replaces).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ringctl.client.lookup import ended_status
from ringctl.client.releases import send, start_release
from ringctl.core.constants import MIN_HISTORY_EVENTS
from ringctl.core.plan import OnFailure, Plan
from ringctl.providers.sandbox import SandboxWorld
from ringctl.providers.sandbox_scenario import ANY_VERSION
from ringctl.workflows.models import AbortRequest, ReleaseState, ReleaseStatus, ResumeRequest, RingState
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, gate, make_plan, region, ring
from tests.support.record_histories import COMPARISON
from tests.support.release_runs import runs_of
from tests.support.release_waits import wait_for
from tests.support.workers import sandbox_worker


def _plan(bake: Any = "1s", *, threshold_gate: bool = False) -> Plan:
    """Staging, canary (compared with na-eu, the regions not reached yet), na-eu."""
    gates = [COMPARISON, gate()] if threshold_gate else [COMPARISON]
    return make_plan(
        staging=ring("staging", region("staging-1"), gates=[]),
        rings=[
            ring("canary", region("canary-1"), bake=bake, gates=gates),
            ring("na-eu", region("us-east-1"), region("eu-west-1", "IE"), gates=[]),
        ],
    )


def _events(status: ReleaseStatus, action: str) -> list[str]:
    return [e.detail for e in status.events if e.action == action]


async def _start(client: Client, task_queue: str, plan: Plan, version: str, **extra: Any) -> WorkflowHandle[Any, Any]:
    """Start a release of ``version`` with ``plan``, as the pipeline ``ci``."""
    return await start_release(
        client, plan, service=SERVICE, version=version, started_by="ci", task_queue=task_queue, **extra
    )


async def _released(client: Client, task_queue: str, world: SandboxWorld, version: str) -> ReleaseStatus:
    """Release ``version`` with :func:`_plan` and wait for its end."""
    async with sandbox_worker(client, task_queue, world):
        return await ended_status(await _start(client, task_queue, _plan(), version), rpc_timeout=None)


async def test_a_regression_against_control_fails_the_ring_with_the_statistic(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.bad_gates = {"canary-1": {"15.1.0"}}
    status = await _released(client, task_queue, world, "15.1.0")
    assert status.state is ReleaseState.ROLLED_BACK, status.reason
    failed = _events(status, "gate_failed")
    assert len(failed) == 1 and "errors-vs-control in canary-1: errors 4.0x control (95% bounds" in failed[0], failed
    assert "regression of at least 1.5x established" in failed[0]
    assert "on the new version) in 1 region" in failed[0], "the counts are in the words"


async def test_an_unchanged_version_passes_on_evidence_and_records_why(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    status = await _released(client, task_queue, world, "15.2.0")
    assert status.state is ReleaseState.COMPLETED, status.reason
    passed = _events(status, "evidence_pass")
    assert len(passed) == 1 and "a regression of 1.5x or more ruled out" in passed[0], passed
    canary = status.rings[1]
    assert canary.evidence["errors-vs-control"].counts, "the test's state is carried in the status"
    result = next(r for r in canary.gate_results if r.gate == "errors-vs-control")
    assert result.evidence is not None and result.evidence.verdict == "pass" and result.value is not None


async def test_without_evidence_a_ring_halts_at_its_max_and_resume_promotes_it(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.no_data = {"canary-1": {ANY_VERSION}}  # no traffic in canary at all (Japan at night)
    bake = {"min": "1s", "until": "evidence", "max": "3s"}
    async with sandbox_worker(client, task_queue, world):
        handle = await _start(client, task_queue, _plan(bake), "15.3.0")
        waiting = await wait_for(handle, lambda s: "waiting for evidence" in s.reason)
        assert waiting.state is ReleaseState.BAKING and "halts for a person at" in waiting.reason, waiting.reason
        halted = await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        assert "ring canary: no evidence either way after 3s (no requests on the new version yet (" in halted.reason, (
            halted.reason
        )
        assert halted.rings[1].state is RingState.HALTED
        answer = await send(client, SERVICE, RingRelease.resume, ResumeRequest(by="alice", reason="low traffic, ok"))
        assert answer.message == "promoting ring canary without evidence"
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    actions = [e.action for e in status.events]
    assert actions.index("halt") < actions.index("resume") < actions.index("promote_without_evidence")


async def test_a_failure_shared_with_control_holds_instead_of_rolling_back(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    everywhere = {ANY_VERSION}
    world.scenario.bad_gates = {"canary-1": everywhere, "us-east-1": everywhere, "eu-west-1": everywhere}
    async with sandbox_worker(client, task_queue, world):
        handle = await _start(client, task_queue, _plan(threshold_gate=True), "15.4.0")
        held = await wait_for(handle, lambda s: s.state is ReleaseState.HOLDING)
        assert "an incident everywhere, not this release" in held.reason, held.reason
        assert "error-ratio in canary-1" in held.reason
        world.scenario.bad_gates = {}
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    assert not _events(status, "gate_failed")


async def test_a_retried_ring_starts_its_comparison_afresh(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    """on_failure: halt, then resume after the fix: the retry is judged on new counts, not the failed test's."""
    world.scenario.bad_gates = {"canary-1": {"15.5.0"}}
    plan = _plan()
    halting = plan.rings[0].model_copy(update={"on_failure": OnFailure.HALT})
    plan = plan.model_copy(update={"rings": [halting, *plan.rings[1:]]})
    async with sandbox_worker(client, task_queue, world):
        handle = await _start(client, task_queue, plan, "15.5.0")
        halted = await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        assert "regression of at least 1.5x established" in halted.reason, halted.reason
        world.scenario.bad_gates = {}
        await send(client, SERVICE, RingRelease.resume, ResumeRequest(by="oncall", reason="fixed the flag"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    assert len(_events(status, "gate_failed")) == 1 and len(_events(status, "evidence_pass")) == 1


async def test_a_ring_holding_on_missing_data_still_halts_at_its_max(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.no_data = {"canary-1": {ANY_VERSION}}  # the error-ratio gate has no data: it holds
    bake = {"min": "1s", "until": "evidence", "max": "3s"}
    async with sandbox_worker(client, task_queue, world):
        handle = await _start(client, task_queue, _plan(bake, threshold_gate=True), "15.6.0")
        halted = await wait_for(handle, lambda s: s.state is ReleaseState.HALTED)
        assert "no evidence either way after 3s" in halted.reason, halted.reason
        await send(client, SERVICE, RingRelease.abort, AbortRequest(by="oncall", reason="no data in canary"))
        await ended_status(handle, rpc_timeout=None)


async def test_a_long_wait_for_evidence_continues_as_new_and_halts_once_at_its_max(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    """Two hours of looks at 1 m (no traffic in canary) span several runs; the deadline and the test carry over."""
    client = skipping_env.client
    world.scenario.no_data = {"canary-1": {ANY_VERSION}}
    slow = {**COMPARISON, "interval": "1m"}
    plan = make_plan(
        staging=ring("staging", region("staging-1"), gates=[]),
        rings=[
            ring("canary", region("canary-1"), bake={"min": "10m", "until": "evidence", "max": "2h"}, gates=[slow]),
            ring("na-eu", region("us-east-1"), region("eu-west-1", "IE"), gates=[]),
        ],
    )
    async with sandbox_worker(client, task_queue, world):
        handle = await _start(client, task_queue, plan, "15.7.0", history_limit=MIN_HISTORY_EVENTS)
        await skipping_env.sleep(timedelta(hours=2, minutes=5))  # a halt has no timer to skip to: skip by hand
        latest = client.get_workflow_handle(handle.id)
        halted = await wait_for(latest, lambda s: s.state is ReleaseState.HALTED, timeout=120)
        assert "no evidence either way after 2h" in halted.reason, halted.reason
        assert halted.rings[1].evidence["errors-vs-control"].seconds >= 7000, "the test went on across the runs"
        # Not through send(): its deadline is wall-clock time, hours behind the skipped workflow clock.
        await latest.execute_update(RingRelease.abort, AbortRequest(by="oncall", reason="no traffic"))
        status = await ended_status(handle, rpc_timeout=None)
    runs = await runs_of(client, handle.id, handle.first_execution_run_id or handle.result_run_id or "")
    assert len(runs) >= 3, [len(run.events) for run in runs]
    assert [e.action for e in status.events].count("halt") == 1
    halt_at = next(e.at for e in status.events if e.action == "halt")
    baking = next(e.at for e in status.events if e.action == "deploy" and e.region == "canary-1")
    assert timedelta(hours=2) <= halt_at - baking < timedelta(hours=2, minutes=2), "the max counted once, across runs"
