"""The post-release watch in ``RingRelease``: after the last ring, every ring's gates keep running.

For the plan's ``watch`` (``0s``: off), every interval, each ring's bake gates are
evaluated in that ring's regions, through :func:`~ringctl.workflows.gating.evaluate`
as in a bake: every region the release changed, each judged by its own ring's
gates. A breach ends the watch with the failure to roll the release back for
(every region, in reverse ring order). The release shows ``baking`` on its last
ring meanwhile, and completes when the watch ends. Time spent paused or holding
on missing data does not count toward the watch; a long watch continues the
release as a new run (phase ``watch``). Deterministic: only ``workflow.*`` APIs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.models import GateDecision, GateEvaluation
    from ringctl.core.constants import PATCH_POST_RELEASE_WATCH, SYSTEM_ACTOR
    from ringctl.core.durations import format_duration
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import ComparisonGate, Gate, Ring
    from ringctl.workflows import gating
    from ringctl.workflows.models import Continued, Phase, ReleaseState
    from ringctl.workflows.state import Release


async def run(release: Release, continued: Continued | None) -> str | None:
    """Watch every region for the plan's ``watch``; the breach to roll back for, or ``None`` once it ends.

    ``continued`` is where the run before this one stood (its watch is picked up
    when its phase is ``watch``; else the watch starts from the beginning).
    """
    request = release.request
    length = request.plan.watch
    if length <= timedelta(0) or not workflow.patched(PATCH_POST_RELEASE_WATCH):
        return None
    resume = continued if continued is not None and continued.phase is Phase.WATCH else None
    watched = [(i, ring, _watched_gates(release, ring)) for i, ring in enumerate(release.stages)]
    watched = [(i, ring, gates) for i, ring, gates in watched if gates]
    interval = min((gate.interval for _, _, gates in watched for gate in gates), default=length)
    remaining = resume.remaining if resume is not None else length
    holding = resume.holding if resume is not None else False
    if resume is None:
        release.event(SYSTEM_ACTOR, "watch_start", detail=f"every region for {format_duration(length)}")
    while remaining > timedelta(0):
        if release.paused and not watched:
            await release.checkpoint()
            continue
        counted = not release.paused and not holding
        _show(release, remaining, holding)
        began = workflow.now()
        await workflow.sleep(min(interval, remaining) if counted else interval)
        evaluations = await asyncio.gather(*(gating.evaluate(release, i, ring, g) for i, ring, g in watched))
        if counted:
            remaining = max(remaining - (workflow.now() - began), timedelta(0))
        breach = _breaches([ring.name for _, ring, _ in watched], evaluations)
        if breach:
            release.event(SYSTEM_ACTOR, "watch_breach", detail=breach)
            release.notify(NotificationEvent.GATE_FAILED, f"{request.release_id}: post-release watch: {breach}")
            return f"post-release watch: gate breach: {breach}"
        was_holding = holding
        holding = any(e is None or e.decision is GateDecision.HOLD for e in evaluations)
        if holding != was_holding:
            release.event(SYSTEM_ACTOR, "hold" if holding else "hold_cleared", detail="post-release watch")
        release.continue_if_due(len(release.stages), Phase.WATCH, remaining, holding=holding)
    release.event(SYSTEM_ACTOR, "watch_end", detail=f"no breach in {format_duration(length)}")
    return None


def _show(release: Release, remaining: timedelta, holding: bool) -> None:
    """Show the watch: how long it lasts and when it ends (if nothing stops its clock)."""
    if holding:
        release.set_state(ReleaseState.HOLDING, "post-release watch: gates have missing data; holding")
        return
    ends = workflow.now() + remaining
    release.set_state(
        ReleaseState.BAKING,
        f"watching every region for {format_duration(release.request.plan.watch)} after the last ring "
        f"(ends {ends:%Y-%m-%d %H:%M:%S} UTC)",
    )


def _breaches(rings: list[str], evaluations: list[GateEvaluation | None]) -> str:
    """``ring: gate in region: reason`` of every failed gate, ``; ``-separated; empty if none failed."""
    failed = [
        f"ring {ring}: {gating.summary(r for r in e.results if r.decision is GateDecision.FAIL)}"
        for ring, e in zip(rings, evaluations, strict=True)
        if e is not None and e.decision is GateDecision.FAIL
    ]
    return "; ".join(failed)


def _watched_gates(release: Release, ring: Ring) -> list[Gate]:
    """The ring's bake gates but comparison gates: once every region runs the new version, nothing is control."""
    gates = release.request.plan.gates_for(release.request.service, ring)
    return [gate for gate in gates if not isinstance(gate, ComparisonGate)]
