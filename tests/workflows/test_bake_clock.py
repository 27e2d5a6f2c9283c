"""A bake lasts what the plan says: the clock's time counts, evaluations included (issue 11, target 4).

Regression: the bake counted one interval per evaluation although each tick
lasted the interval plus the evaluation (1.064x the configured waits with a
fast provider; with a slow one, much more).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.providers.sandbox import SandboxWorld, Scenario
from ringctl.workflows.models import ReleaseState
from tests.support.plans import SERVICE, gate, make_plan, ring
from tests.support.plans import region as region_entry
from tests.support.workers import sandbox_worker

BAKE = timedelta(seconds=8)
#: Each gate evaluation takes this long (the sandbox's scripted ``gates`` delay).
EVALUATION = 0.8


async def test_an_eight_second_bake_with_slow_evaluations_lasts_eight_seconds_not_eleven(
    client: Client, task_queue: str
) -> None:
    world = SandboxWorld(Scenario(delays={"gates": EVALUATION}))
    plan = make_plan(
        staging=ring("staging", region_entry("staging-1"), bake="8s", gates=[gate(interval="2s")]),
        rings=[ring("canary", region_entry("canary-1"), bake="0s", gates=[])],
    )
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, plan, service=SERVICE, version="9.0.0", started_by="ci", task_queue=task_queue
        )
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    staging = status.rings[0]
    deployed = next(e.at for e in status.events if e.action == "deploy" and e.region == "staging-1")
    assert staging.finished_at is not None
    baked = staging.finished_at - deployed
    # the bake's 8 s, at most the last evaluation's 0.8 s, a little scheduling; it was 4 x (2 s + 0.8 s)
    assert BAKE <= baked < BAKE + timedelta(seconds=EVALUATION + 0.6), baked
