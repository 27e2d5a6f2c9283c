"""Hours- and days-long waits on Temporal's time-skipping test server: bakes, deployment windows, freezes, holidays."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

import holidays
from temporalio.testing import WorkflowEnvironment

from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.providers.sandbox import SandboxWorld
from ringctl.workflows.models import ReleaseState, ReleaseStatus
from tests.support.plans import SERVICE, gate, make_plan, region, ring
from tests.support.workers import sandbox_worker


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
        status = await ended_status(handle, rpc_timeout=None)
    assert time.monotonic() - started < 60
    assert status.state is ReleaseState.COMPLETED
    assert status.updated_at - status.started_at >= timedelta(hours=8)
    for ring_status in status.rings:
        assert ring_status.finished_at and ring_status.started_at
        assert ring_status.finished_at - ring_status.started_at >= timedelta(hours=4)
        assert ring_status.evaluations == 8, "one evaluation every 30 minutes of a 4-hour bake"
        assert len(ring_status.gate_results) == 1, "the latest result of the one gate in the one region"


async def _release(env: WorkflowEnvironment, task_queue: str, world: SandboxWorld, **plan: object) -> ReleaseStatus:
    async with sandbox_worker(env.client, task_queue, world):
        handle = await start_release(
            env.client, make_plan(**plan), service=SERVICE, version="6.0.0", started_by="ci", task_queue=task_queue
        )
        return await ended_status(handle, rpc_timeout=None)


def _actions(status: ReleaseStatus, ring_name: str) -> list[str]:
    return [e.action for e in status.events if e.ring == ring_name]


async def test_closed_window_waits_durably_until_it_opens_then_continues(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    now = await skipping_env.get_current_time()
    opens = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    end = "24:00" if opens.hour == 23 else f"{opens.hour + 1:02d}:00"
    window = {"timezone": "UTC", "days": "mon-sun", "start": f"{opens.hour:02d}:00", "end": end}
    status = await _release(
        skipping_env,
        task_queue,
        world,
        rings=[ring("canary", region("canary-1"), windows=[window], bake="10m", gates=[gate(interval="5m")])],
    )
    assert status.state is ReleaseState.COMPLETED
    canary = status.rings[1]
    assert canary.started_at is not None and opens <= canary.started_at < opens + timedelta(minutes=5)
    assert _actions(status, "canary")[:2] == ["await_window", "window_open"]
    waiting = next(e for e in status.events if e.action == "await_window")
    assert f"opens {opens:%Y-%m-%d %H:%M} UTC" in waiting.detail


async def test_freeze_beginning_during_a_bake_lets_it_finish_but_holds_the_next_ring(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    now = await skipping_env.get_current_time()
    freeze_start, freeze_end = now + timedelta(minutes=30), now + timedelta(hours=5)
    freeze = {"start": freeze_start.isoformat(), "end": freeze_end.isoformat(), "reason": "change freeze"}
    status = await _release(
        skipping_env,
        task_queue,
        world,
        staging=ring("staging", region("staging-1"), bake="2h", gates=[gate(interval="30m")], freezes=[freeze]),
        rings=[ring("canary", region("canary-1"), freezes=[freeze])],
    )
    assert status.state is ReleaseState.COMPLETED
    staging, canary = status.rings[0], status.rings[1]
    assert staging.finished_at is not None and staging.started_at is not None
    assert staging.finished_at - staging.started_at < timedelta(hours=2, minutes=30), "the bake was not interrupted"
    assert staging.finished_at > freeze_start
    assert canary.started_at is not None and canary.started_at >= freeze_end, "no new ring during the freeze"
    assert "freeze 'change freeze'" in next(e.detail for e in status.events if e.action == "await_window")


async def test_public_holiday_is_a_freeze(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    now = await skipping_env.get_current_time()
    calendar = holidays.country_holidays("JP", years=[now.year, now.year + 1])
    holiday = min(day for day in calendar if datetime.combine(day, time_of_day(1), tokyo) > now)
    morning = datetime.combine(holiday, time_of_day(1), tokyo)
    await skipping_env.sleep(morning - now)
    next_day = holiday + timedelta(days=1)
    while next_day in calendar:
        next_day += timedelta(days=1)
    status = await _release(
        skipping_env,
        task_queue,
        world,
        rings=[ring("canary", region("canary-1"), holidays={"country": "JP", "timezone": "Asia/Tokyo"})],
    )
    assert status.state is ReleaseState.COMPLETED
    canary = status.rings[1]
    assert canary.started_at is not None
    assert canary.started_at.astimezone(tokyo).date() == next_day, "waits until the holiday is over"
    detail = next(e.detail for e in status.events if e.action == "await_window")
    assert "public holiday in JP" in detail and calendar[holiday].split(";")[0] in detail
