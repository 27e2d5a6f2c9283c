"""The alarm blocker: a ring does not start while a page alert fires (or is unknown) in its regions.

RingRelease on the session's dev server with the sandbox providers; the
sandbox's ``Scenario.alarms`` says which alerts fire where.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ringctl.activities.alarms import alarm_name
from ringctl.activities.models import Alarm, AlarmCheck, GateDecision
from ringctl.client.lookup import ended_status
from ringctl.client.releases import send, start_release
from ringctl.core.constants import MIN_HISTORY_EVENTS
from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld, Scenario
from ringctl.workflows.alarms import describe
from ringctl.workflows.models import ApproveRequest, ReleaseState, ReleaseStatus, RingState
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, burn_rate_slo, make_plan, plan_data, region, ring
from tests.support.release_runs import runs_of
from tests.support.release_waits import wait_for
from tests.support.workers import sandbox_worker

NEW = "registry.example.com/checkout:2.0.0"
ALARMS = {"interval": "1s"}


async def start(client: Client, task_queue: str, **plan: Any) -> WorkflowHandle[Any, Any]:
    rings = plan.pop("rings", [ring("canary", region("canary-1")), ring("na-eu", region("us-east-1"))])
    return await start_release(
        client,
        make_plan(rings=rings, **plan),
        service=SERVICE,
        version="2.0.0",
        started_by="ci-pipeline",
        task_queue=task_queue,
    )


def holding(ring_name: str, text: str) -> Any:
    """A predicate: ``ring_name`` holds and the release's reason says ``text``."""

    def check(status: ReleaseStatus) -> bool:
        held = any(r.name == ring_name and r.state is RingState.HOLDING for r in status.rings)
        return held and status.state is ReleaseState.HOLDING and text in status.reason

    return check


def details(status: ReleaseStatus, action: str) -> list[str]:
    return [e.detail for e in status.events if e.action == action]


async def test_a_firing_alarm_holds_the_ring_until_it_clears(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario = Scenario(alarms={"us-east-1": {"CheckoutErrorBudgetBurn"}, "eu-west-9": {"Elsewhere"}})
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, alarms=ALARMS)
        status = await wait_for(handle, holding("na-eu", "alarm firing: CheckoutErrorBudgetBurn in us-east-1"))
        assert "--override-budget" in status.reason and "every 1s" in status.reason
        assert status.rings[2].message == "alarm firing: CheckoutErrorBudgetBurn in us-east-1"
        assert world.image("canary-1") == NEW, "rings without an alarm went ahead"
        assert "us-east-1" not in {c.region for c in world.calls}, "nothing deployed while the alarm fires"
        world.scenario = Scenario()
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    assert world.image("us-east-1") == NEW
    assert details(status, "alarm_firing") == ["alarm firing: CheckoutErrorBudgetBurn in us-east-1"]
    assert [e.ring for e in status.events if e.action == "alarm_cleared"] == ["na-eu"]


async def test_a_budget_override_deploys_despite_the_alarm(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario = Scenario(alarms={"canary-1": {"PaymentsDown", "CheckoutLatency"}})
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, alarms=ALARMS)
        await wait_for(handle, holding("canary", "alarm firing: CheckoutLatency in canary-1; PaymentsDown in canary-1"))
        await send(
            client,
            SERVICE,
            RingRelease.approve,
            ApproveRequest(ring="canary", by="sre", override_budget=True, reason="INC-7: this release is the fix"),
        )
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    override = status.rings[1].budget_override
    assert override is not None and override.reason == "INC-7: this release is the fix"
    assert "alarm_cleared" not in {e.action for e in status.events}


async def test_unknown_alarms_hold_and_never_pass(client: Client, task_queue: str, world: SandboxWorld) -> None:
    world.scenario = Scenario(delays={"gates": 3.0})  # every query outlasts the plan's 1 s Prometheus timeout
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, alarms=ALARMS, prometheus={"timeout": "1s"})
        status = await wait_for(handle, holding("staging", "alarms unknown: staging-1: timed out after 1s"))
        assert not world.calls, "nothing deployed while the alarms are unknown"
        assert details(status, "alarm_unknown") == ["alarms unknown: staging-1: timed out after 1s"]
        world.scenario = Scenario()
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED


async def test_no_alarms_block_or_a_ring_that_opts_out_is_not_checked(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario = Scenario(alarms={"canary-1": {"Page"}, "us-east-1": {"Page"}})
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue)  # no alarms: block in the plan
        assert (await ended_status(handle, rpc_timeout=None)).state is ReleaseState.COMPLETED
        rings = [ring("canary", region("canary-1"), check_alarms=False)]
        handle = await start(client, task_queue, alarms=ALARMS, rings=rings)
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    assert not [e for e in status.events if e.action.startswith("alarm_")]


async def test_a_burning_slo_in_the_rings_regions_is_an_alarm(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario = Scenario(bad_gates={"us-east-1": {ANY_VERSION}})  # every version burns there
    services = plan_data()["services"]
    services[0]["slos"] = [burn_rate_slo()]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, alarms=ALARMS, services=services)
        status = await wait_for(handle, holding("na-eu", "alarm firing: availability:alarm-burn-5m-1h in us-east-1"))
        burn = [r for r in status.rings[2].gate_results if r.gate == "availability:alarm-burn-5m-1h"]
        assert burn and burn[-1].decision is GateDecision.FAIL and burn[-1].query.startswith("sum(rate(errors{region")
        assert "us-east-1" not in {c.region for c in world.calls}
        world.scenario = Scenario()
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED
    assert [e.ring for e in status.events if e.action == "alarm_cleared"] == ["na-eu"]


async def test_a_long_alarm_continues_as_new_runs_and_is_recorded_once(
    skipping_env: WorkflowEnvironment, task_queue: str, world: SandboxWorld
) -> None:
    """Hours of a firing page before canary, checked every minute: the wait continues as new runs."""
    world.scenario = Scenario(alarms={"canary-1": {"CheckoutBurn"}})
    client = skipping_env.client
    rings = [ring("canary", region("canary-1"))]
    plan = make_plan(rings=rings, alarms={"interval": "1m"})
    async with sandbox_worker(client, task_queue, world):
        handle = await start_release(
            client,
            plan,
            service=SERVICE,
            version="7.2.0",
            started_by="ci",
            task_queue=task_queue,
            history_limit=MIN_HISTORY_EVENTS,
        )
        while len(await runs_of(client, handle.id, handle.first_execution_run_id or "")) < 3:
            await skipping_env.sleep(timedelta(minutes=20))  # the test server skips time only when asked
        world.scenario = Scenario()
        status = await ended_status(handle, rpc_timeout=None)
    assert status.state is ReleaseState.COMPLETED, status.reason
    actions = [e.action for e in status.events if e.ring == "canary"]
    assert actions.count("alarm_firing") == 1, "recorded once, not once per run"
    assert actions.index("alarm_firing") < actions.index("alarm_cleared") < actions.index("promote")
    assert [c.region for c in world.calls] == ["staging-1", "canary-1"]


def test_alarms_are_named_by_alertname_and_grouped_by_alert() -> None:
    assert alarm_name({"alertname": "HighBurn", "region": "r1"}) == "HighBurn"
    assert alarm_name({"region": "r1", "__name__": "page"}) == '{__name__="page", region="r1"}'
    check = AlarmCheck(
        firing=[Alarm(name="A", region="r1"), Alarm(name="B", region="r1"), Alarm(name="A", region="r2")],
        unknown={"r3": "query failed: cannot connect"},
    )
    assert describe(check) == "alarm firing: A in r1, r2; B in r1; alarms unknown: r3: query failed: cannot connect"
