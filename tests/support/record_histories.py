"""Record workflow histories for the replay test: ``python -m tests.support.record_histories``.

Only scenarios without a history file are recorded. Add a scenario when a new
workflow behaviour deserves a history of its own; never delete and re-record
an existing file to make a replay failure go away — that failure means running
releases would break.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from ringctl.client.devserver import start_dev_server
from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.constants import MIN_HISTORY_EVENTS
from ringctl.core.plan import Plan
from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld, Scenario
from ringctl.workflows.models import (
    AbortRequest,
    ApproveRequest,
    OverrideKind,
    OverrideRequest,
    PauseRequest,
    ReleaseState,
    ResumeRequest,
    RingState,
    RollbackRequest,
)
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, burn_rate_slo, gate, make_plan, plan_data, region, ring
from tests.support.release_runs import runs_of
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.workers import sandbox_worker

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
#: Errors in every region of the comparison scenarios, on every version: an incident everywhere.
_EVERYWHERE = {name: {ANY_VERSION} for name in ("canary-1", "us-east-1")}
#: A comparison gate over the sandbox's counts (see tests/workflows/test_evidence_bake.py).
COMPARISON: dict[str, object] = {
    "name": "errors-vs-control",
    "kind": "comparison",
    "query": 'sum(increase(errors{region="{region}",version="{version}"}[{window}]))',
    "samples_query": 'sum(increase(requests{region="{region}",version="{version}"}[{window}]))',
    "interval": "1s",
}


async def _until(handle: WorkflowHandle, check) -> None:  # type: ignore[no-untyped-def,type-arg]
    while not check(await handle.query(RingRelease.status)):
        await asyncio.sleep(0.1)


async def _approved_with_pause(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    handle = await start_release(
        client, make_plan(), service=SERVICE, version="1.0.0", started_by="ci", task_queue=queue
    )
    await _until(handle, lambda s: s.rings[1].state is RingState.BAKING)
    await handle.execute_update(RingRelease.pause, PauseRequest(by="oncall"))
    await handle.execute_update(RingRelease.resume, ResumeRequest(by="oncall"))
    await _until(handle, lambda s: s.rings[-1].state is RingState.AWAITING_APPROVAL)
    await handle.execute_update(RingRelease.approve, ApproveRequest(ring="japan", by="release-manager"))
    return handle


async def _gate_failure_rollback(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    return await start_release(client, make_plan(), service=SERVICE, version="1.0.1", started_by="ci", task_queue=queue)


async def _halt_resume(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    rings = [ring("canary", region("canary-1"), on_failure="halt"), ring("na-eu", region("us-east-1"))]
    plan = make_plan(rings=rings)
    handle = await start_release(client, plan, service=SERVICE, version="1.0.2", started_by="ci", task_queue=queue)
    await _until(handle, lambda s: s.state is ReleaseState.HALTED)
    await handle.execute_update(RingRelease.resume, ResumeRequest(by="oncall"))
    return handle


async def _human_control(  # type: ignore[type-arg]
    client: Client, queue: str, *, version: str = "1.0.3", override_update: bool = False
) -> WorkflowHandle:
    now = datetime.now(UTC)
    freeze = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
        "reason": "freeze",
    }
    rings = [
        ring("canary", region("canary-1"), freezes=[freeze], approval={"approvers": ["alice"]}),
        ring(
            "japan",
            region("ap-northeast-1", "JP"),
            approval={"required": True, "approvers": ["managers"], "min_approvals": 2},
        ),
    ]
    plan = make_plan(
        rings=rings,
        groups={"managers": ["alice", "bob"]},
        notifications={"webhooks": [{"name": "releases", "url": _RECEIVER.url}]},
    )
    handle = await start_release(client, plan, service=SERVICE, version=version, started_by="ci", task_queue=queue)
    await _until(handle, lambda s: s.state is ReleaseState.AWAITING_WINDOW)
    if override_update:
        override = OverrideRequest(ring="canary", by="alice", kind=OverrideKind.WINDOW, reason="hotfix")
        await handle.execute_update(RingRelease.override, override)
    else:  # the shape clients sent before the override update
        await handle.execute_update(
            RingRelease.approve, ApproveRequest(ring="canary", by="alice", override_window=True, reason="hotfix")
        )
    await _until(handle, lambda s: s.rings[-1].state is RingState.AWAITING_APPROVAL)
    for approver in ("alice", "bob"):
        await handle.execute_update(RingRelease.approve, ApproveRequest(ring="japan", by=approver))
    return handle


async def _override_update(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    return await _human_control(client, queue, version="1.0.6", override_update=True)


async def _rollback_during_gate_evaluation(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    handle = await start_release(
        client, make_plan(), service=SERVICE, version="1.0.4", started_by="ci", task_queue=queue
    )
    await _until(handle, lambda s: s.rings[1].state is RingState.BAKING)
    await asyncio.sleep(0.5)  # an evaluation (2 s per measurement) is in flight
    await handle.execute_update(RingRelease.rollback, RollbackRequest(by="oncall", reason="bad"))
    return handle


async def _rollback_racing_abort(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    handle = await start_release(
        client, make_plan(), service=SERVICE, version="1.0.5", started_by="ci", task_queue=queue
    )
    await _until(handle, lambda s: s.rings[1].state is RingState.BAKING)
    await asyncio.gather(  # both in one workflow task: the rollback runs after the abort, in the same run
        handle.execute_update(RingRelease.abort, AbortRequest(by="oncall", reason="stop")),
        handle.execute_update(RingRelease.rollback, RollbackRequest(by="oncall", reason="undo after all")),
    )
    return handle


async def _continued_bake(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    plan = make_plan(rings=[ring("canary", region("canary-1"), region("canary-2"), bake="40s")])
    handle = await start_release(
        client,
        plan,
        service=SERVICE,
        version="1.0.7",
        started_by="ci",
        task_queue=queue,
        history_limit=MIN_HISTORY_EVENTS,
    )
    await _until(handle, lambda s: s.rings[1].state is RingState.BAKING)
    await handle.execute_update(RingRelease.pause, PauseRequest(by="oncall"))
    await asyncio.sleep(3)
    await handle.execute_update(RingRelease.resume, ResumeRequest(by="oncall"))
    return handle


async def _partly_approved_rollback(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    plan = plan_data(groups={"release-managers": ["alice", "bob", "carol"]})
    plan["rings"][-1]["approval"] = {"required": True, "approvers": ["release-managers"], "min_approvals": 2}
    handle = await start_release(
        client, Plan.model_validate(plan), service=SERVICE, version="1.0.9", started_by="ci", task_queue=queue
    )
    await _until(handle, lambda s: s.rings[-1].state is RingState.AWAITING_APPROVAL)
    await handle.execute_update(RingRelease.approve, ApproveRequest(ring="japan", by="alice"))
    await handle.execute_update(RingRelease.rollback, RollbackRequest(by="oncall", reason="customer report"))
    return handle


async def _alarm_blocker(  # type: ignore[type-arg]
    client: Client, queue: str, *, version: str = "1.0.10", slos: list[dict[str, object]] | None = None
) -> WorkflowHandle:
    rings = [ring("canary", region("canary-1")), ring("na-eu", region("us-east-1"))]
    data = plan_data(rings=rings, alarms={"interval": "1s"})
    data["services"][0]["slos"] = slos or []
    plan = Plan.model_validate(data)
    handle = await start_release(client, plan, service=SERVICE, version=version, started_by="ci", task_queue=queue)
    await _until(handle, lambda s: s.rings[1].state is RingState.HOLDING and "alarm firing" in s.reason)
    await asyncio.sleep(1.5)  # one more check while it fires; then main() clears the alarm
    return handle


async def _alarm_burn_rate(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    return await _alarm_blocker(client, queue, version="1.0.11", slos=[burn_rate_slo()])


async def _post_release_watch(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    plan = make_plan(rings=[ring("canary", region("canary-1")), ring("na-eu", region("us-east-1"))], watch="60s")
    handle = await start_release(
        client,
        plan,
        service=SERVICE,
        version="1.0.12",
        started_by="ci",
        task_queue=queue,
        history_limit=MIN_HISTORY_EVENTS,
    )
    await _until(handle, lambda s: s.reason.startswith("watching every region"))
    await handle.execute_update(RingRelease.pause, PauseRequest(by="oncall"))
    await asyncio.sleep(1.5)
    await handle.execute_update(RingRelease.resume, ResumeRequest(by="oncall"))
    while len(await runs_of(client, handle.id, handle.first_execution_run_id or "")) < 2:
        await asyncio.sleep(0.5)  # the watch continued as new; then main() makes canary-1 breach
    return handle


def _comparison_plan(bake: object = "1s", *gates: dict[str, object]) -> Plan:
    compared = ring("canary", region("canary-1"), bake=bake, gates=[COMPARISON, *gates])
    return make_plan(rings=[compared, ring("na-eu", region("us-east-1"), gates=[])])


async def _incident_then_evidence(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    plan = _comparison_plan("1s", gate())
    handle = await start_release(client, plan, service=SERVICE, version="1.0.13", started_by="ci", task_queue=queue)
    await _until(handle, lambda s: s.state is ReleaseState.HOLDING)  # then main() ends the incident
    return handle


async def _evidence_halt(client: Client, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    plan = _comparison_plan({"min": "1s", "until": "evidence", "max": "2s"})
    handle = await start_release(client, plan, service=SERVICE, version="1.0.14", started_by="ci", task_queue=queue)
    await _until(handle, lambda s: s.state is ReleaseState.HALTED)
    await handle.execute_update(RingRelease.resume, ResumeRequest(by="alice", reason="no traffic tonight"))
    return handle


_RECEIVER = WebhookReceiver()


async def main() -> None:
    async with await start_dev_server() as env:
        scenarios = {
            "approved_with_pause": (_approved_with_pause, Scenario()),
            "gate_failure_rollback": (_gate_failure_rollback, Scenario(bad_gates={"us-east-1": {ANY_VERSION}})),
            "halt_resume": (_halt_resume, Scenario(bad_gates={"canary-1": {"1.0.2"}}, rollout_polls=1)),
            "human_control": (_human_control, Scenario()),
            # Recorded after PATCH_PUBLISH_ON_CHANGE: carries its marker.
            "gate_failure_rollback_publish_on_change": (
                _gate_failure_rollback,
                Scenario(bad_gates={"us-east-1": {ANY_VERSION}}),
            ),
            # Recorded after PATCH_INTERRUPTS_WIN: rollback and abort win over an activity in flight.
            "rollback_during_gate_evaluation": (_rollback_during_gate_evaluation, Scenario(delays={"gates": 2})),
            "rollback_racing_abort": (_rollback_racing_abort, Scenario(delays={"gates": 1})),
            # Recorded after the override update replaced approve's override flags; undo records name previous_version.
            "override_update": (_override_update, Scenario()),
            # Recorded after PATCH_BOUNDED_HISTORY: a bake continued as new runs (its first and its last run).
            "continued_bake": (_continued_bake, Scenario()),
            # Recorded after PATCH_INDEX_WAITING and PATCH_END_AS_STATE: one of two approvals re-indexes who may
            # still approve; the rollback ends the workflow as failed, carrying the status.
            "partly_approved_rollback": (_partly_approved_rollback, Scenario()),
            # Recorded after PATCH_ALARM_BLOCKER: canary holds while an alarm fires, then goes on once it clears.
            "alarm_blocker": (_alarm_blocker, Scenario(alarms={"canary-1": {"CheckoutBurn"}})),
            # The SLOs' burn-rate checks over every version as alarms: canary-1 burns until main() clears it.
            "alarm_burn_rate": (_alarm_burn_rate, Scenario(bad_gates={"canary-1": {ANY_VERSION}})),
            # Recorded after PATCH_POST_RELEASE_WATCH: the watch is paused, continues as new, then canary-1 breaches.
            "post_release_watch": (_post_release_watch, Scenario()),
            # Comparison gates (no patch: only plans with them run this code): an error-ratio breach shared
            # with control holds as an incident everywhere until main() ends it, then canary passes on evidence.
            "comparison_incident": (_incident_then_evidence, Scenario(bad_gates=_EVERYWHERE)),
            # No traffic in canary: the ring halts at its bake's max; alice resumes, which promotes it.
            "comparison_evidence_halt": (_evidence_halt, Scenario(no_data={"canary-1": {ANY_VERSION}})),
        }
        _RECEIVER.start()
        for name, (scenario, script) in scenarios.items():
            if (HISTORIES / f"{name}.json").exists() or (HISTORIES / f"{name}_first_run.json").exists():
                continue
            world = SandboxWorld(script)
            queue = f"record-{uuid.uuid4()}"
            async with sandbox_worker(env.client, queue, world):
                handle = await scenario(env.client, queue)
                if name in ("halt_resume", "alarm_blocker", "alarm_burn_rate", "comparison_incident"):
                    world.scenario.bad_gates.clear()
                    world.scenario.alarms.clear()
                if name == "post_release_watch":
                    world.scenario.bad_gates = {"canary-1": {ANY_VERSION}}
                await ended_status(handle, rpc_timeout=None)
            runs = await runs_of(env.client, handle.id, handle.first_execution_run_id or "")
            named = {name: runs[0]} if len(runs) == 1 else {f"{name}_first_run": runs[0], f"{name}_last_run": runs[-1]}
            for file, history in named.items():
                (HISTORIES / f"{file}.json").write_text(history.to_json(), encoding="utf-8")
                print(f"recorded {file}: {len(history.events)} events")
        _RECEIVER.close()


if __name__ == "__main__":
    asyncio.run(main())
