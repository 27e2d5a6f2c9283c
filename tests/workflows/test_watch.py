"""The post-release watch (issue 14): after the last ring, every ring's gates keep running for the plan's ``watch``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ringctl.client.lookup import ended_status
from ringctl.client.releases import rollback_release, send, start_release
from ringctl.core.constants import MIN_HISTORY_EVENTS
from ringctl.core.plan import Plan
from ringctl.providers.sandbox import SandboxWorld
from ringctl.workflows.models import PauseRequest, RegionState, ReleaseState, ReleaseStatus, ResumeRequest
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, gate, make_plan, region, ring
from tests.support.release_runs import runs_of
from tests.support.release_waits import wait_for
from tests.support.workers import sandbox_worker


def _plan(watch: str, interval: str = "1s") -> Plan:
    """Staging, canary and na-eu (two regions), each with one gate; the plan watches for ``watch``."""
    return make_plan(
        staging=ring("staging", region("staging-1"), gates=[gate(interval=interval)]),
        rings=[
            ring("canary", region("canary-1"), gates=[gate(interval=interval)]),
            ring("na-eu", region("us-east-1"), region("eu-west-1", "IE"), gates=[gate(interval=interval)]),
        ],
        watch=watch,
    )


def _watching(status: ReleaseStatus) -> bool:
    return status.reason.startswith("watching every region")


def _actions(status: ReleaseStatus) -> list[str]:
    return [e.action for e in status.events]


def _all_rolled_back(status: ReleaseStatus) -> bool:
    return all(r.state is RegionState.ROLLED_BACK for ring_status in status.rings for r in ring_status.regions)


async def test_a_breach_during_the_watch_rolls_back_every_region(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, _plan("60s"), service=SERVICE, version="14.1.0", started_by="ci", task_queue=task_queue
        )
        watching = await wait_for(handle, _watching)
        assert watching.state is ReleaseState.BAKING and watching.current_ring == "na-eu"
        assert "after the last ring (ends " in watching.reason, watching.reason
        world.scenario.bad_gates = {"canary-1": {"14.1.0"}}  # canary's error ratio rises a while after the release
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.ROLLED_BACK, status.reason
    assert status.reason.startswith("post-release watch: gate breach: ring canary: error-ratio in canary-1"), status
    assert _all_rolled_back(status), status.rings
    actions = _actions(status)
    assert actions.index("watch_start") < actions.index("watch_breach") < actions.index("rollback_start")
    assert "watch_end" not in actions and "complete" not in actions
    rolled = [e.region for e in status.events if e.action == "region_rolled_back"]
    assert rolled[-1] == "staging-1" and rolled.index("canary-1") > max(
        rolled.index("us-east-1"), rolled.index("eu-west-1")
    ), "reverse ring order"


async def test_without_a_breach_the_release_completes_when_the_watch_ends(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, _plan("3s"), service=SERVICE, version="14.2.0", started_by="ci", task_queue=task_queue
        )
        await wait_for(handle, _watching)
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    actions = _actions(status)
    assert actions.index("watch_start") < actions.index("watch_end") < actions.index("complete")
    started = next(e.at for e in status.events if e.action == "watch_start")
    ended = next(e.at for e in status.events if e.action == "watch_end")
    assert timedelta(seconds=3) <= ended - started < timedelta(seconds=5), ended - started
    assert all(r.evaluations >= 3 for r in status.rings), "every ring's gates ran during the watch"


async def test_a_rollback_command_during_the_watch_rolls_back_every_region(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, _plan("60s"), service=SERVICE, version="14.3.0", started_by="ci", task_queue=task_queue
        )
        await wait_for(handle, _watching)
        result = await rollback_release(client, SERVICE, by="oncall", reason="customer reports")
        assert result.state is ReleaseState.ROLLING_BACK
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.ROLLED_BACK, status.reason
    assert status.reason == "rollback requested by oncall: customer reports"
    assert _all_rolled_back(status), status.rings
    assert "watch_breach" not in _actions(status)


async def test_a_pause_stops_the_watch_clock_until_resumed(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client, _plan("3s"), service=SERVICE, version="14.5.0", started_by="ci", task_queue=task_queue
        )
        await wait_for(handle, _watching)
        await send(client, SERVICE, RingRelease.pause, PauseRequest(by="oncall", reason="watching closely"))
        await asyncio.sleep(3)
        assert (await handle.query(RingRelease.status)).state is ReleaseState.PAUSED, "the watch has not ended"
        await send(client, SERVICE, RingRelease.resume, ResumeRequest(by="oncall"))
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    started = next(e.at for e in status.events if e.action == "watch_start")
    ended = next(e.at for e in status.events if e.action == "watch_end")
    assert ended - started >= timedelta(seconds=4.5), "3 s watched, and the 3 s paused less at most one 1 s tick"


async def test_a_day_long_watch_continues_as_new_runs_and_completes(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    client = skipping_env.client
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client,
            _plan("24h", interval="5m"),
            service=SERVICE,
            version="14.4.0",
            started_by="ci",
            task_queue=task_queue,
            history_limit=MIN_HISTORY_EVENTS,
        )
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    runs = await runs_of(client, handle.id, handle.first_execution_run_id or handle.result_run_id or "")
    assert len(runs) >= 3, [len(run.events) for run in runs]
    actions = _actions(status)
    assert actions.count("watch_start") == 1 and actions.count("watch_end") == 1, actions
    started = next(e.at for e in status.events if e.action == "watch_start")
    ended = next(e.at for e in status.events if e.action == "watch_end")
    assert timedelta(hours=24) <= ended - started < timedelta(hours=24, minutes=10), "counted across runs, once"
    assert len(world.calls) == 4, "each region deployed once"
