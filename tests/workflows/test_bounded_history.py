"""A bake longer than one run's history: the release continues as new runs, each bounded (issue 11).

On Temporal's time-skipping test server, so hours of bake at one evaluation a
minute take seconds; ``history_limit`` (``release start --history-limit``) is
set low so a few hours cross the boundary several times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.constants import MIN_HISTORY_EVENTS
from ringctl.core.plan import Plan
from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld
from ringctl.workflows.models import ReleaseState
from tests.support.plans import SERVICE, gate, make_plan, plan_data, region, ring
from tests.support.release_runs import runs_of
from tests.support.slo_plans import slos
from tests.support.workers import sandbox_worker

#: What a run may pass its limit by: the tick that noticed, and a ring's promotion.
MARGIN = 60


async def start_bounded(client: Client, plan: Plan, version: str, task_queue: str) -> WorkflowHandle[Any, Any]:
    """Start a release of ``plan`` whose runs continue as new past the lowest history limit."""
    return await start_release(
        client,
        plan,
        service=SERVICE,
        version=version,
        started_by="ci",
        task_queue=task_queue,
        history_limit=MIN_HISTORY_EVENTS,
    )


async def test_a_six_hour_bake_continues_as_new_runs_each_under_the_limit_and_completes(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    plan = make_plan(
        rings=[ring("canary", region("canary-1"), region("canary-2"), bake="6h", gates=[gate(interval="1m")])]
    )
    client = skipping_env.client
    async with sandbox_worker(client, task_queue, world):
        handle = await start_bounded(client, plan, "7.0.0", task_queue)
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    runs = await runs_of(client, handle.id, handle.first_execution_run_id or handle.result_run_id or "")
    lengths = [len(run.events) for run in runs]
    print(f"runs: {len(runs)}, events per run: {lengths}")
    assert len(runs) >= 5, lengths
    assert max(lengths) <= MIN_HISTORY_EVENTS + MARGIN, lengths
    canary = status.rings[1]
    assert canary.started_at is not None and canary.finished_at is not None
    assert canary.finished_at - canary.started_at >= timedelta(hours=6), "the bake counted across runs"
    assert canary.finished_at - canary.started_at < timedelta(hours=6, minutes=5), "and not restarted in any run"
    actions = [e.action for e in status.events]
    assert actions.count("start") == 1 and actions.count("promote") == 2, actions
    assert all(r.image is not None and r.image.endswith(":7.0.0") for r in canary.regions)
    assert len(world.calls) == 3, "each region deployed once, in one run"


async def test_a_long_error_budget_hold_continues_as_new_and_deploys_once_data_returns(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    """Hours of "error budget unknown" (missing data) before canary: the check continues as new runs."""
    availability = {**slos(interval="1m")[0], "error_budget": True}
    plan = make_plan(
        services=[{**plan_data()["services"][0], "slos": [availability]}],
        staging=ring("staging", region("staging-1"), slo_overrides={"availability": {"error_budget": False}}),
        rings=[ring("canary", region("canary-1"))],
    )
    world.scenario.no_data = {"canary-1": {ANY_VERSION}}
    client = skipping_env.client
    async with sandbox_worker(client, task_queue, world):
        handle = await start_bounded(client, plan, "7.1.0", task_queue)
        first = handle.first_execution_run_id
        while len(await runs_of(client, handle.id, first or "")) < 3:
            await skipping_env.sleep(timedelta(minutes=20))  # the test server skips time only when asked
        world.scenario.no_data = {}  # the data comes back
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    actions = [e.action for e in status.events if e.ring == "canary"]
    assert actions.count("budget_hold") == 1, "announced once, not once per run"
    assert actions.index("budget_hold") < actions.index("budget_ok") < actions.index("promote")
    assert [c.region for c in world.calls] == ["staging-1", "canary-1"], "deployed once, after the hold"
