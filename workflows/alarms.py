"""The alarm blocker in ``RingRelease``: a ring does not start while a page alert fires in its regions.

After the ring's approval and window, before its error-budget check, the
``check_alarms`` activity runs the plan's ``alarms:`` queries in the ring's
regions, and the SLOs' burn-rate checks over every version are evaluated there
like gates (:meth:`~ringctl.core.plan.Plan.alarm_gates_for`; a breach is an
alarm named after its gate, missing data follows the SLO's ``missing_data``).
While an alarm fires, or a region's alarms are unknown (Prometheus
down, a failed query: never read as "no alarm"), the ring and the release are
``holding`` with the alarms and regions in the reason, and the check runs again
every ``alarms.interval``. A budget override (``approve --override-budget``)
also overrides the alarms: both are the health checks before a ring deploys,
and a new override kind would be a value older workers cannot decode.
Deterministic: only ``workflow.*`` APIs, every wait a durable timer or condition.
"""

from __future__ import annotations

import contextlib

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.alarms import AlarmActivities
    from ringctl.activities.models import Alarm, AlarmCheck, CheckAlarmsInput, GateDecision, GateEvaluation
    from ringctl.core.alarms import Alarms
    from ringctl.core.constants import PATCH_ALARM_BLOCKER, SYSTEM_ACTOR
    from ringctl.core.durations import format_duration
    from ringctl.core.plan import Ring
    from ringctl.workflows import gating
    from ringctl.workflows.models import Phase, ReleaseState, RingState
    from ringctl.workflows.state import Release
    from ringctl.workflows.timeouts import GATE_RETRY, GATE_TIMEOUT_MARGIN


async def wait_while_firing(release: Release, index: int, ring: Ring) -> None:
    """Before deploying ``ring``: wait while the plan's alarms fire (or are unknown) in its regions.

    Returns at once without ``alarms:`` in the plan, with ``check_alarms: false``
    on the ring, or after a budget override. Records ``alarm_firing`` (the
    alerts and regions; again when they change), ``alarm_unknown`` and
    ``alarm_cleared``; a run continued during the wait goes on from the last one recorded.
    """
    alarms = release.request.plan.alarms
    status = release.status.rings[index]
    if alarms is None or not ring.check_alarms or status.budget_override is not None:
        return
    if not workflow.patched(PATCH_ALARM_BLOCKER):
        return
    gates = release.request.plan.alarm_gates_for(release.request.service, ring)
    release.budget_waiting.add(ring.name)
    alarm_events = (e for e in reversed(release.status.events) if e.ring == ring.name and e.action.startswith("alarm_"))
    last = next(alarm_events, None)  # a continued run goes on from what the run before it recorded
    recorded = last.detail if last is not None and last.action != "alarm_cleared" else ""
    try:
        while status.budget_override is None:
            check = await _check(release, ring, alarms)
            if gates:
                check = with_burn_rates(check, await gating.evaluate(release, index, ring, gates), ring)
            if not check.firing and not check.unknown:
                if recorded:
                    release.event(SYSTEM_ACTOR, "alarm_cleared", ring=ring.name)
                return
            detail = describe(check)
            status.state, status.message = RingState.HOLDING, detail
            release.set_state(
                ReleaseState.HOLDING,
                f"ring {ring.name}: {detail}; checking again every {format_duration(alarms.interval)}, or "
                f"`ringctl approve --ring {ring.name} --override-budget --reason ...`",
            )
            if detail != recorded:
                action = "alarm_firing" if check.firing else "alarm_unknown"
                release.event(SYSTEM_ACTOR, action, ring=ring.name, detail=detail)
                recorded = detail
            with contextlib.suppress(TimeoutError):
                await release.wait(lambda: status.budget_override is not None, timeout=alarms.interval)
            release.continue_if_due(index, Phase.BUDGET)
    finally:
        release.budget_waiting.discard(ring.name)


async def _check(release: Release, ring: Ring, alarms: Alarms) -> AlarmCheck:
    """One run of the alarm queries; an activity that failed leaves every region of the ring unknown."""
    request = release.request
    timeout = request.plan.prometheus.timeout
    arguments = CheckAlarmsInput(
        release_id=request.release_id,
        service=request.service,
        ring=ring.name,
        regions=ring.regions,
        queries=alarms.queries,
        prometheus_url=request.plan.prometheus.url,
        timeout=timeout.total_seconds(),
    )
    try:
        return await workflow.execute_activity_method(
            AlarmActivities.check_alarms,
            arguments,
            start_to_close_timeout=timeout + GATE_TIMEOUT_MARGIN,
            retry_policy=GATE_RETRY,
        )
    except ActivityError as error:
        reason = release.failure_of(error)
        return AlarmCheck(unknown={region.name: reason for region in ring.regions})


def with_burn_rates(check: AlarmCheck, evaluation: GateEvaluation | None, ring: Ring) -> AlarmCheck:
    """``check`` with the burn-rate alarms: a breach fires, a hold (or no evaluation) leaves the region unknown."""
    if evaluation is None:
        failed = {region.name: "burn-rate evaluation failed" for region in ring.regions}
        return AlarmCheck(firing=check.firing, unknown={**failed, **check.unknown})
    breached = [Alarm(name=r.gate, region=r.region) for r in evaluation.results if r.decision is GateDecision.FAIL]
    unknown = dict(check.unknown)
    for result in evaluation.results:
        if result.decision is GateDecision.HOLD:
            unknown.setdefault(result.region, f"{result.gate}: {result.reason}")
    return AlarmCheck(firing=[*check.firing, *breached], unknown=unknown)


def describe(check: AlarmCheck) -> str:
    """``alarm firing: HighErrorRate in us-east-1, eu-west-1; alarms unknown: ap-south-1: <error>``."""
    regions: dict[str, list[str]] = {}
    for alarm in check.firing:
        regions.setdefault(alarm.name, []).append(alarm.region)
    parts = []
    if regions:
        parts.append("alarm firing: " + "; ".join(f"{name} in {', '.join(where)}" for name, where in regions.items()))
    if check.unknown:
        parts.append("alarms unknown: " + "; ".join(f"{region}: {error}" for region, error in check.unknown.items()))
    return "; ".join(parts)
