"""Gates in ``RingRelease``: the error-budget check before a ring deploys, and the bake after.

Both loops call the ``evaluate_gates`` activity through :func:`evaluate` and act
on its combined decision: pass, fail, or hold (missing data, or the evaluation
itself failed). Functions of the run's :class:`~ringctl.workflows.state.Release`;
deterministic: only ``workflow.*`` APIs, every wait a durable timer or condition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.gates import GateActivities
    from ringctl.activities.models import EvaluateGatesInput, GateDecision, GateEvaluation, GateResult
    from ringctl.core.constants import PATCH_BAKE_BY_CLOCK, PATCH_LOCAL_GATES, SYSTEM_ACTOR
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import Gate, Ring
    from ringctl.core.versions import image_tag
    from ringctl.providers.models import UndoRecord
    from ringctl.workflows import evidence
    from ringctl.workflows.models import Continued, Phase, ReleaseState, RingState
    from ringctl.workflows.state import Release, RingFailed
    from ringctl.workflows.timeouts import (
        GATE_RETRY,
        GATE_TIMEOUT_MARGIN,
        LOCAL_GATE_BUDGET,
        LOCAL_GATE_RETRY,
        REGION_CALL_HEARTBEAT,
    )


async def check_budget(
    release: Release, index: int, ring: Ring, gates: list[Gate], resume: Continued | None = None
) -> None:
    """Before deploying ``ring``: wait while an SLO's error budget is exhausted in its regions.

    Exhausted (or missing data under ``missing_data: fail``): wait for a budget
    override. Missing data under ``hold``: re-check every interval until data
    returns, or an override (a long hold continues the release as a new run,
    which checks again: ``resume``). ``pass``: proceed.
    """
    status = release.status.rings[index]
    interval = min(gate.interval for gate in gates)
    release.budget_waiting.add(ring.name)
    announced: GateDecision | None = GateDecision.HOLD if resume is not None and resume.holding else None
    try:
        while status.budget_override is None:
            evaluation = await evaluate(release, index, ring, gates)
            verdict = evaluation.decision if evaluation is not None else GateDecision.HOLD
            if verdict is GateDecision.PASS:
                if announced is not None:
                    release.event(SYSTEM_ACTOR, "budget_ok", ring=ring.name)
                return
            detail = summary(r for r in (evaluation.results if evaluation else []) if r.decision is verdict)
            detail = detail or "gate evaluation failed"
            if verdict is GateDecision.FAIL:
                status.state = RingState.AWAITING_BUDGET_OVERRIDE
                release.set_state(
                    ReleaseState.AWAITING_BUDGET_OVERRIDE,
                    f"ring {ring.name}: error budget exhausted ({detail}); waiting for "
                    f"`ringctl approve --ring {ring.name} --override-budget --reason ...`",
                )
                release.event(SYSTEM_ACTOR, "budget_exhausted", ring=ring.name, detail=detail)
                await release.wait(lambda: status.budget_override is not None)
                break
            status.state = RingState.HOLDING
            release.set_state(ReleaseState.HOLDING, f"ring {ring.name}: error budget unknown (missing data); holding")
            if announced is not GateDecision.HOLD:
                release.event(SYSTEM_ACTOR, "budget_hold", ring=ring.name, detail=detail)
            announced = verdict
            with contextlib.suppress(TimeoutError):
                await release.wait(lambda: status.budget_override is not None, timeout=interval)
            release.continue_if_due(index, Phase.BUDGET, holding=True)
    finally:
        release.budget_waiting.discard(ring.name)


async def bake(release: Release, index: int, ring: Ring, resume: Continued | None = None) -> None:
    """Wait ``ring.bake``, evaluating gates every interval; raise :class:`RingFailed` on the first breach.

    Time spent paused or holding on missing data does not count toward the
    bake, and the bake ends only after the gates' ``consecutive_healthy``
    passing evaluations in a row (a hold resets the count). The bake counts
    the clock's time, its evaluations' included, so it lasts what the plan
    says (it counted one interval per evaluation before). A long bake
    continues the release as a new run between two evaluations, which picks up
    the bake where it was (``resume``). A ring with comparison gates bakes on
    until each has a verdict, and halts for a person at the bake's ``max``
    without one (:mod:`~ringctl.workflows.evidence`).
    """
    request = release.request
    status = release.status.rings[index]
    gates = request.plan.gates_for(request.service, ring)
    compared = evidence.comparison_gates(gates)
    if resume is None:
        evidence.start(status, ring, compared)
    pending = evidence.pending(compared, status.gate_results if resume is not None else [])
    remaining = resume.remaining if resume is not None else ring.bake_min
    interval = min((gate.interval for gate in gates), default=ring.bake_min)
    required = max((gate.consecutive_healthy for gate in gates), default=0)
    streak = resume.streak if resume is not None else 0
    holding = resume.holding if resume is not None else False
    by_clock = workflow.patched(PATCH_BAKE_BY_CLOCK)
    while (remaining > timedelta(0) or streak < required or release.paused or pending) and not evidence.halts(
        status, pending, release.paused
    ):
        if release.paused and not gates:
            await release.checkpoint()
            continue
        counted = not release.paused and not holding and remaining > timedelta(0)
        step = min(interval, remaining) if counted else interval
        began = workflow.now()
        status.next_check_at, status.bake_remaining = began + step, remaining  # shown by status (no command)
        status.healthy_needed = max(required - streak, 0)
        if step > timedelta(0):
            await workflow.sleep(step)
        if counted and not by_clock:
            remaining = max(remaining - step, timedelta(0))
        evaluation = await evaluate(release, index, ring, gates) if gates else None
        if counted and by_clock:  # the clock's time, the evaluation's included: the bake does not drift
            remaining = max(remaining - (workflow.now() - began), timedelta(0))
        if not gates:
            continue
        verdict = evaluation.decision if evaluation is not None else GateDecision.HOLD
        if evaluation is not None and verdict is GateDecision.FAIL:
            detail = summary(r for r in evaluation.results if r.decision is GateDecision.FAIL)
            release.event(SYSTEM_ACTOR, "gate_failed", ring=ring.name, detail=detail)
            release.notify(
                NotificationEvent.GATE_FAILED,
                f"{request.release_id}: ring {ring.name} gate failed: {detail}",
                ring=ring.name,
            )
            raise RingFailed(f"gate breach: {detail}")
        streak = streak + 1 if verdict is GateDecision.PASS else 0
        pending = evidence.pending(compared, evaluation.results if evaluation is not None else None)
        was_holding, holding = holding, verdict is GateDecision.HOLD
        if holding and not was_holding and evaluation is not None:
            held = summary(r for r in evaluation.results if r.decision is GateDecision.HOLD)
            release.event(SYSTEM_ACTOR, "hold", ring=ring.name, detail=held)
        elif was_holding and not holding:
            release.event(SYSTEM_ACTOR, "hold_cleared", ring=ring.name)
        status.state = RingState.HOLDING if holding else RingState.BAKING
        if holding:
            release.set_state(ReleaseState.HOLDING, f"ring {ring.name}: {_held(evaluation)}; holding")
        elif pending and remaining <= timedelta(0):
            release.set_state(ReleaseState.BAKING, evidence.waiting_words(ring, status, pending))
        else:
            release.set_state(ReleaseState.BAKING, f"baking ring {ring.name}")
        release.continue_if_due(index, Phase.BAKE, remaining, streak, holding)
    status.next_check_at, status.bake_remaining, status.healthy_needed = None, None, 0
    if pending:
        await evidence.halt(release, ring, pending)


def _held(evaluation: GateEvaluation | None) -> str:
    """Why a round holds: missing data, or failures held as an incident everywhere (comparison gates)."""
    held = [r for r in evaluation.results if r.decision is GateDecision.HOLD] if evaluation else []
    shared = [r for r in held if r.incident]
    if shared:
        failed = ", ".join(dict.fromkeys(f"{r.gate} in {r.region}" for r in shared))
        return f"{failed} {shared[0].incident}"
    return "gates have missing data"


async def evaluate(release: Release, index: int, ring: Ring, gates: list[Gate]) -> GateEvaluation | None:
    """Evaluate ``gates`` in the ring's regions and record the results; ``None`` if the activity failed.

    First as a local activity of at most :data:`LOCAL_GATE_BUDGET` (a healthy
    Prometheus answers in milliseconds); if that fails or runs out of time, as
    the heartbeating, retried, cancellable ``evaluate_gates`` activity.
    """
    request = release.request
    status = release.status.rings[index]
    timeout = request.plan.prometheus.timeout
    compared = evidence.comparison_gates(gates)
    arguments = EvaluateGatesInput(
        release_id=request.release_id,
        service=request.service,
        version=request.version,
        ring=ring.name,
        regions=ring.regions,
        gates=gates,
        prometheus_url=request.plan.prometheus.url,
        previous_versions=previous_versions(release.status.undo_records),
        timeout=timeout.total_seconds(),
    )
    if compared:  # counts since the ring started, against the regions not reached yet
        later = [region for stage in release.stages[index + 1 :] for region in stage.regions]
        elapsed = workflow.now() - (status.evidence_since or status.started_at or workflow.now())
        update = {"elapsed": elapsed, "control_regions": later, "evidence": dict(status.evidence)}
        arguments = arguments.model_copy(update=update)
    evaluation = await _evaluate_locally(arguments) if workflow.patched(PATCH_LOCAL_GATES) else None
    if evaluation is None:
        try:
            evaluation = await workflow.execute_activity_method(
                GateActivities.evaluate_gates,
                arguments,
                start_to_close_timeout=timeout + GATE_TIMEOUT_MARGIN,
                heartbeat_timeout=REGION_CALL_HEARTBEAT,
                retry_policy=GATE_RETRY,
            )
        except ActivityError as error:
            release.event(SYSTEM_ACTOR, "gate_error", ring=ring.name, detail=release.failure_of(error))
            return None
    if compared:
        evidence.record(release, ring, status, evaluation)
    status.gate_results = latest_results(status.gate_results, evaluation.results)
    status.evaluations += 1
    release.count(
        "ringctl_gate_evaluations",
        "gate evaluations of a ring, by decision",
        ring=ring.name,
        decision=str(evaluation.decision),
    )
    return evaluation


async def _evaluate_locally(arguments: EvaluateGatesInput) -> GateEvaluation | None:
    """The evaluation as a local activity, or ``None`` if it failed or took longer than its budget.

    A timed-out local activity surfaces as an ``ActivityError`` when it happens,
    but as the bare ``TimeoutError`` when its marker is replayed: both mean "run
    the activity". A cancellation is never swallowed.
    """
    try:
        return await workflow.execute_local_activity_method(
            GateActivities.evaluate_gates,
            arguments,
            start_to_close_timeout=LOCAL_GATE_BUDGET,
            retry_policy=LOCAL_GATE_RETRY,
        )
    except FailureError as error:
        if isinstance(error, CancelledError) or isinstance(error.cause, CancelledError):
            raise
        return None


def latest_results(kept: list[GateResult], new: list[GateResult]) -> list[GateResult]:
    """The latest result of each gate in each region, ``new`` last.

    Older results are dropped (a failure stays in the event log): the status a
    release carries, queries and continues with stays the size of one round.
    """
    replaced = {(r.gate, r.kind, r.region) for r in new}
    return [*(r for r in kept if (r.gate, r.kind, r.region) not in replaced), *new]


def previous_versions(records: Iterable[UndoRecord]) -> dict[str, str]:
    """The version each deploy replaced, by region, for ``{previous_version}`` in gate queries.

    Undo records from before ``previous_version`` existed fall back to the tag of
    their previous image (only a plain ``name:tag``; a digest names no version).
    """
    versions: dict[str, str] = {}
    for record in records:
        version = record.previous_version
        if version is None and record.previous_image:
            version = image_tag(record.previous_image)
        if version:
            versions[record.target.region] = version
    return versions


def summary(results: Iterable[GateResult]) -> str:
    """``gate in region: reason`` of each result, ``; ``-separated."""
    return "; ".join(f"{r.gate} in {r.region}: {r.reason}" for r in results)
