"""Gate evaluations as local activities: the fast path, its fallback to the activity, and replay of both."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.worker import Replayer

from ringctl.client.releases import start_release
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.providers.sandbox import SandboxWorld, Scenario
from ringctl.worker import WORKFLOW_RUNNER
from ringctl.workflows.models import ReleaseStatus
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, make_plan
from tests.support.polling import eventually
from tests.support.workers import sandbox_worker


async def test_a_slow_evaluation_falls_back_to_the_activity_and_the_history_replays(
    client: Client, task_queue: str
) -> None:
    """Measurements slower than the local budget: the evaluation runs again as the activity; replay agrees."""
    world = SandboxWorld(Scenario(delays={"gates": 3}))
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, make_plan(), service=SERVICE, version="7.0.0", started_by="ci", task_queue=task_queue
        )

        async def evaluated_by_the_activity() -> bool:
            described = await handle.describe()
            status = await handle.query("status", result_type=ReleaseStatus)
            return bool(status.rings[0].evaluations) or any(
                a.activity_type == "evaluate_gates" for a in described.raw_description.pending_activities
            )

        await eventually(evaluated_by_the_activity, bool, timeout=30)
        await asyncio.sleep(0.5)
        history = await handle.fetch_history()
        await handle.terminate("test done")
    replayer = Replayer(workflows=[RingRelease], data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    await replayer.replay_workflow(history)
