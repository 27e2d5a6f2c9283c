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

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.models import GateEvaluation, GateResult
    from ringctl.core.constants import SYSTEM_ACTOR
    from ringctl.core.durations import format_duration
    from ringctl.core.evidence import Verdict
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import ComparisonGate, Gate, Ring
    from ringctl.workflows.models import RingStatus
    from ringctl.workflows.state import Release

__all__ = ["comparison_gates", "halt", "halts", "pending", "record", "start", "waiting_words"]

#: Why a comparison gate without a result has no verdict.
_FAILED = "the gate evaluation failed"


def comparison_gates(gates: list[Gate]) -> list[ComparisonGate]:
    """The gates decided on evidence."""
    return [gate for gate in gates if isinstance(gate, ComparisonGate)]


def pending(gates: list[ComparisonGate], results: list[GateResult] | None) -> list[str]:
    """Why each comparison gate without a verdict has none (a gate without a result has none); all if ``results``
    is None (the evaluation failed)."""
    waiting = []
    for gate in gates:
        mine = [r for r in results or [] if r.gate == gate.name and r.kind == str(gate.kind)]
        undecided = [r.reason for r in mine if r.evidence is None or r.evidence.verdict is Verdict.INSUFFICIENT]
        waiting += undecided if mine else [_FAILED]
    return waiting


def start(status: RingStatus, ring: Ring, gates: list[ComparisonGate]) -> None:
    """A bake begins (not a continued one): its deadline; a retried ring's test starts afresh, counting from now.

    The first bake counts since the ring started (its rollout included: old pods
    serving beside new ones are control too).
    """
    if not gates:
        return
    status.evidence_deadline = workflow.now() + ring.bake_max if ring.bake_max is not None else None
    status.evidence_since = status.started_at if status.evidence_since is None else workflow.now()
    status.evidence, status.evidence_verdicts = {}, {}


def halts(status: RingStatus, waiting: list[str], paused: bool) -> bool:
    """Whether the bake stops to halt for a person: a verdict still missing at its ``max`` (not while paused)."""
    deadline = status.evidence_deadline
    return bool(waiting) and not paused and deadline is not None and workflow.now() >= deadline


def record(release: Release, ring: Ring, status: RingStatus, evaluation: GateEvaluation) -> None:
    """Keep the comparison gates' states; record (and notify) each gate that reaches a pass, with why.

    A fail is recorded as the ``gate_failed`` that ends the ring; a missing-data
    round neither changes a gate's verdict nor repeats it.
    """
    status.evidence.update(evaluation.evidence)
    for result in evaluation.results:
        if result.evidence is None or status.evidence_verdicts.get(result.gate) == result.evidence.verdict:
            continue
        status.evidence_verdicts[result.gate] = verdict = result.evidence.verdict
        if verdict is Verdict.PASS:
            detail = f"{result.gate}: {result.evidence.sentence()}"
            release.event(SYSTEM_ACTOR, "evidence_pass", ring=ring.name, detail=detail)
            text = f"{release.request.release_id}: ring {ring.name}, {detail}"
            release.notify(NotificationEvent.EVIDENCE, text, ring=ring.name)


def waiting_words(ring: Ring, status: RingStatus, waiting: list[str]) -> str:
    """``ring canary: baked 1h; waiting for evidence: ... ; halts for a person at 14:05 UTC``."""
    why = waiting[0] if waiting else "no comparison yet"
    text = f"ring {ring.name}: baked {format_duration(ring.bake_min)}; waiting for evidence ({why})"
    if status.evidence_deadline is not None:
        text += f"; halts for a person at {status.evidence_deadline:%Y-%m-%d %H:%M:%S} UTC without it"
    return text


async def halt(release: Release, ring: Ring, waiting: list[str]) -> None:
    """Halt the ring at its bake's ``max`` without a verdict; return once a person resumes (promote it)."""
    most = format_duration(ring.bake_max) if ring.bake_max is not None else "its bake"
    why = waiting[0] if waiting else "no comparison could be made"
    reason = f"ring {ring.name}: no evidence either way after {most} ({why}); resume promotes it without evidence"
    await release.halt(ring.name, reason, resume_means=f"promoting ring {ring.name} without evidence")
    release.event(SYSTEM_ACTOR, "promote_without_evidence", ring=ring.name, detail="resumed by a person at the halt")
