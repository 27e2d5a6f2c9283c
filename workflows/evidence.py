"""Bake by evidence in ``RingRelease``: a ring with comparison gates bakes until each has a verdict.

The sequential test itself runs in the ``evaluate_gates`` activity
(:mod:`ringctl.activities.comparison`); the workflow carries each gate's state
from one evaluation to the next (``RingStatus.evidence``), records every change
of verdict with the statistic, bounds, counts and confidence behind it, and
keeps the ring baking while a verdict is missing: after the bake's time (its
``min``) the ring waits for the evidence, and a ring still without it at the
bake's ``max`` halts for a person (``resume`` promotes it without evidence;
``rollback`` and ``abort`` as in any halt). Functions of the run's
:class:`~ringctl.workflows.state.Release`; deterministic: only ``workflow.*`` APIs.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.models import GateDecision, GateEvaluation, GateResult
    from ringctl.core.constants import SYSTEM_ACTOR
    from ringctl.core.durations import format_duration
    from ringctl.core.evidence import Verdict
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import ComparisonGate, Gate, Ring
    from ringctl.workflows.models import RingStatus
    from ringctl.workflows.state import Release

__all__ = ["comparison_gates", "deadline", "halt", "overdue", "pending", "record", "waiting_words"]


def comparison_gates(gates: list[Gate]) -> list[ComparisonGate]:
    """The gates decided on evidence."""
    return [gate for gate in gates if isinstance(gate, ComparisonGate)]


def deadline(ring: Ring, gates: list[ComparisonGate]) -> datetime | None:
    """When a bake beginning now halts for a person without a verdict (``None``: never)."""
    return workflow.now() + ring.bake_max if gates and ring.bake_max is not None else None


def overdue(status: RingStatus) -> bool:
    """Whether the ring's bake has reached its ``max`` without a verdict."""
    return status.evidence_deadline is not None and workflow.now() >= status.evidence_deadline


def pending(gates: list[ComparisonGate], evaluation: GateEvaluation | None) -> list[GateResult]:
    """The comparison results of this evaluation without a verdict; all gates pending if it failed."""
    if not gates:
        return []
    if evaluation is None:
        return [_unknown(gate) for gate in gates]
    names = {gate.name for gate in gates}
    results = [r for r in evaluation.results if r.gate in names]
    return [r for r in results if r.evidence is None or r.evidence.verdict is Verdict.INSUFFICIENT]


def record(release: Release, ring: Ring, status: RingStatus, evaluation: GateEvaluation) -> None:
    """Keep the comparison gates' states; record and notify each gate whose verdict changed (with why)."""
    status.evidence.update(evaluation.evidence)
    before = {r.gate: r.evidence.verdict for r in status.gate_results if r.evidence is not None}
    seen: set[str] = set()
    for result in evaluation.results:
        if result.evidence is None or result.gate in seen:
            continue
        seen.add(result.gate)
        verdict = result.evidence.verdict
        if before.get(result.gate, Verdict.INSUFFICIENT) is verdict:
            continue
        detail = f"{result.gate}: {result.evidence.sentence()}"
        release.event(SYSTEM_ACTOR, f"evidence_{verdict}", ring=ring.name, detail=detail)
        if verdict is Verdict.PASS:
            release.notify(
                NotificationEvent.EVIDENCE,
                f"{release.request.release_id}: ring {ring.name}, {detail}",
                ring=ring.name,
            )


def waiting_words(ring: Ring, status: RingStatus, results: list[GateResult]) -> str:
    """``ring canary: baked 1h; waiting for evidence: ... ; halts for a person at 14:05 UTC``."""
    why = results[0].reason if results else "no comparison yet"
    text = f"ring {ring.name}: baked {format_duration(ring.bake_min)}; waiting for evidence ({why})"
    if status.evidence_deadline is not None:
        text += f"; halts for a person at {status.evidence_deadline:%Y-%m-%d %H:%M:%S} UTC without it"
    return text


async def halt(release: Release, ring: Ring, results: list[GateResult]) -> None:
    """Halt the ring at its bake's ``max`` without a verdict; return once a person resumes (promote it)."""
    most = format_duration(ring.bake_max) if ring.bake_max is not None else "its bake"
    why = results[0].reason if results else "no comparison could be made"
    reason = f"ring {ring.name}: no evidence either way after {most} ({why}); resume promotes it without evidence"
    await release.halt(ring.name, reason, resume_means=f"promoting ring {ring.name} without evidence")
    release.event(SYSTEM_ACTOR, "promote_without_evidence", ring=ring.name, detail="resumed by a person at the halt")


def _unknown(gate: ComparisonGate) -> GateResult:
    """A stand-in for a comparison gate whose evaluation failed: no verdict."""
    return GateResult(
        gate=gate.name,
        region="",
        query=gate.query,
        value=None,
        threshold=gate.tolerance,
        comparison=str(gate.comparison),
        samples=None,
        decision=GateDecision.HOLD,
        reason="the gate evaluation failed",
        evaluated_at=workflow.now(),
        kind=str(gate.kind),
    )
