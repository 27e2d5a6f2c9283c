"""A release as a tree for ``ringctl status --watch``: rings, their regions, each region's gates.

Each ring says what it waits for now (who still has to approve and how many, when its
window opens, an error-budget override) and when its gates were last checked. On a
terminal :func:`status_tree` is redrawn in place; elsewhere (a CI log, a pipe) one
:func:`change_line` is printed per change of state, ring, region states or reason.
rich is imported only where a tree is drawn: other commands start without it.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ringctl.core.durations import format_duration
from ringctl.workflows.models import ReleaseState, ReleaseStatus, RingState, RingStatus

if TYPE_CHECKING:
    from rich.tree import Tree

    from ringctl.activities.models import GateResult

#: A ring's mark in the tree.
_MARKS = {
    RingState.PENDING: "·",
    RingState.PROMOTED: "✔",
    RingState.FAILED: "✘",
    RingState.HALTED: "■",
    RingState.ROLLING_BACK: "↩",
    RingState.ROLLED_BACK: "↩",
}
#: Colours of states and gate decisions (anything else is drawn plain).
_STYLES = {
    "promoted": "green",
    "healthy": "green",
    "completed": "green",
    "pass": "green",
    "failed": "red",
    "fail": "red",
    "halted": "red",
    "rolled_back": "yellow",
    "rolling_back": "yellow",
    "hold": "yellow",
    "holding": "yellow",
}
#: Release states in which the release's ``reason`` tells what its current ring waits for.
_WAITING = {
    ReleaseState.AWAITING_APPROVAL,
    ReleaseState.AWAITING_WINDOW,
    ReleaseState.AWAITING_BUDGET_OVERRIDE,
    ReleaseState.HOLDING,
    ReleaseState.HALTED,
}
#: Ring states in which a ring's gates are being checked.
_CHECKING = {RingState.BAKING, RingState.HOLDING}


def _clock(at: datetime) -> str:
    """``HH:MM:SSZ``: the time of day in UTC, as every time in a status."""
    return f"{at.astimezone(UTC):%H:%M:%S}Z"


def _span(since: datetime, until: datetime) -> str:
    """``until - since`` to the second (``3h12m5s``); ``0s`` when ``until`` is earlier."""
    return format_duration(timedelta(seconds=max(int((until - since).total_seconds()), 0)))


def current_wait(status: ReleaseStatus, ring: RingStatus, now: datetime) -> str | None:
    """What ``ring`` waits for now, in words; ``None`` when it waits for nothing."""
    if status.current_ring == ring.name and status.state in _WAITING:
        wait = status.reason  # the workflow's words: who still has to approve, why the window is closed, ...
    elif ring.state is RingState.AWAITING_APPROVAL:
        wait = "waiting for approval"
    elif ring.state is RingState.AWAITING_BUDGET_OVERRIDE:
        wait = "error budget exhausted: waiting for a budget override"
    elif ring.state is RingState.AWAITING_WINDOW:
        wait = "waiting for its deployment window"
    else:
        return None
    if ring.state is RingState.AWAITING_WINDOW and ring.waiting_until is not None:
        wait += f" (window opens in {_span(now, ring.waiting_until)})"
    return wait


def gate_check(ring: RingStatus, now: datetime) -> str | None:
    """When a baking or holding ring's gates were last checked, and how often; ``None`` otherwise."""
    if ring.state not in _CHECKING:
        return None
    if not ring.gate_results:
        return "first gate check due"
    last = max(result.evaluated_at for result in ring.gate_results)
    times = f"{ring.evaluations} time{'s' if ring.evaluations != 1 else ''}"
    text = f"gates checked {times}, last at {_clock(last)} ({_span(last, now)} ago)"
    if ring.next_check_at is not None:
        text += f"; next at {_clock(ring.next_check_at)} (in {_span(now, ring.next_check_at)})"
    if ring.bake_remaining is not None:
        text += f"; bake left {format_duration(ring.bake_remaining)}"
    if ring.healthy_needed:
        text += f", then {ring.healthy_needed} passing check{'s' if ring.healthy_needed != 1 else ''} in a row"
    return text


def ring_notes(status: ReleaseStatus, ring: RingStatus, now: datetime) -> list[str]:
    """What the tree says beside a ring: its wait, its next check, approvals and overrides, its failure."""
    notes = [note for note in (current_wait(status, ring, now), gate_check(ring, now)) if note]
    if ring.approvals:
        notes.append("approved by " + ", ".join(f"{a.approver} at {_clock(a.at)}" for a in ring.approvals))
    elif ring.approval_required and ring.state is RingState.PENDING:
        notes.append("approval required")
    for kind, override in (("budget", ring.budget_override), ("window", ring.window_override)):
        if override is not None:
            notes.append(f"{kind} overridden by {override.by}: {override.reason}")
    if ring.message and ring.message not in status.reason:
        notes.append(ring.message)
    return notes


def _gate_summary(results: list[GateResult]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.verdict] = counts.get(result.verdict, 0) + 1
    return "gates: " + ", ".join(f"{n} {decision}" for decision, n in counts.items())


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _expanded(status: ReleaseStatus, ring: RingStatus) -> bool:
    """Whether each gate of the ring gets a line: a running release's current ring's, and any ring's that did
    not all pass."""
    current = status.current_ring == ring.name and not status.state.is_final
    return current or any(r.verdict != "pass" for r in ring.gate_results)


def status_tree(status: ReleaseStatus, now: datetime | None = None) -> Tree:
    """The release as a rich ``Tree``: rings, then regions, then each region's latest gate results."""
    from rich.text import Text
    from rich.tree import Tree

    now = now or datetime.now(UTC)

    def label(name: str, state: str, notes: list[str], mark: str = "") -> Text:
        text = Text(f"{mark} " if mark else "") + Text(name, style="bold") + "  "
        text.append(state, style=_STYLES.get(state, ""))
        for note in notes:
            text.append(f"  · {note}")
        return text

    paused = " (paused)" if status.paused and status.state is not ReleaseState.PAUSED else ""
    root = Text(f"{status.release_id}  ", style="bold") + Text(
        f"{status.state}{paused}", style=_STYLES.get(status.state, "")
    )
    root.append(f"  ring {status.current_ring or '-'}  image {status.image}")
    if status.reason:
        root.append(f"\n{status.reason}", style="italic")
    tree = Tree(root)
    for ring in status.rings:
        mark = "▶" if status.current_ring == ring.name and not status.state.is_final else _MARKS.get(ring.state, "○")
        branch = tree.add(label(ring.name, ring.state, ring_notes(status, ring, now), mark))
        by_region: dict[str, list[GateResult]] = {}
        for result in ring.gate_results:
            by_region.setdefault(result.region, []).append(result)
        expanded = _expanded(status, ring)
        for region in ring.regions:
            results = by_region.get(region.name, [])
            notes = [f"since {_clock(region.since)}"] if region.since else []
            notes += [region.message] if region.message else []
            if results and not expanded:
                notes.append(_gate_summary(results))
            leaf = branch.add(label(region.name, region.state, notes))
            for result in results if expanded else []:
                measured = f"{_number(result.value)} {result.comparison} {_number(result.threshold)}"
                why = [] if result.verdict == "pass" else [result.reason]
                leaf.add(label(result.gate, result.verdict, [measured, *why]))
    return tree


def change_key(status: ReleaseStatus) -> Hashable:
    """What :func:`change_line` shows: a new line is due when this changes (the reason, only while waiting:
    who still has to approve, why the window is closed)."""
    ring = next((r for r in status.rings if r.name == status.current_ring), None)
    regions = tuple((r.name, r.state) for r in ring.regions) if ring else ()
    waiting = status.reason if status.state in _WAITING else None
    return status.state, status.paused, status.current_ring, regions, waiting


def change_line(status: ReleaseStatus) -> str:
    """One line for a log: when, the release, its state, its current ring's regions, and why."""
    ring = next((r for r in status.rings if r.name == status.current_ring), None)
    regions = ", ".join(f"{r.name} {r.state}" for r in ring.regions) if ring else ""
    paused = " (paused)" if status.paused and status.state is not ReleaseState.PAUSED else ""
    where = f" ring {status.current_ring}" + (f" [{regions}]" if regions else "") if status.current_ring else ""
    reason = f": {status.reason}" if status.reason else ""
    return f"{_clock(status.updated_at)} {status.release_id} {status.state}{paused}{where}{reason}"
