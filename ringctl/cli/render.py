"""Render a :class:`~ringctl.workflows.models.ReleaseStatus` as a readable table."""

from __future__ import annotations

from datetime import datetime

from ringctl.workflows.models import Event, ReleaseStatus


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_status(status: ReleaseStatus, events: int = 10, queries: bool = True) -> str:
    """Rings, regions, the latest gate result per gate and region, and the last ``events`` events.

    With ``queries``, each gate result is followed by the reason of its
    decision and the query as sent. ``--output json`` has every kept result.
    """
    lines = [
        f"release  {status.release_id}   image {status.image}",
        f"state    {status.state}{' (paused)' if status.paused and str(status.state) != 'paused' else ''}"
        f"   ring {status.current_ring or '-'}   started by {status.started_by} at {_when(status.started_at)}",
    ]
    if status.reason:
        lines.append(f"reason   {status.reason}")
    if status.metadata:
        lines.append("build    " + "   ".join(f"{key} {value}" for key, value in status.metadata.items()))
    lines += ["", f"{'RING':<12} {'REGION':<18} {'STATE':<18} {'SINCE':<19}  MESSAGE"]
    for ring in status.rings:
        approval = ""
        if ring.approval_required:
            who = ", ".join(a.approver for a in ring.approvals) or "none yet"
            approval = f"approval required; approved by: {who}"
        lines.append(
            f"{ring.name:<12} {'':<18} {ring.state:<18} {_when(ring.started_at):<19}  {approval or ring.message}"
        )
        for region in ring.regions:
            lines.append(f"{'':<12} {region.name:<18} {region.state:<18} {_when(region.since):<19}  {region.message}")
    latest = {}
    for ring in status.rings:
        for result in ring.gate_results:
            latest[(ring.name, result.gate, result.region)] = result
    if latest:
        width = max(len(f"{ring_name}/{gate_name}") for ring_name, gate_name, _ in latest) + 1
        lines += [
            "",
            (
                f"{'GATE':<{width}} {'SLO':<14} {'REGION':<18} {'VALUE':>10} {'THRESHOLD':>12} {'SAMPLES':>9}  "
                "DECISION  AT"
            ),
        ]
        for (ring_name, gate, where), r in latest.items():
            lines.append(
                f"{ring_name + '/' + gate:<{width}} {r.slo or '-':<14} {where:<18} {_number(r.value):>10} "
                f"{r.comparison + ' ' + _number(r.threshold):>12} {_number(r.samples):>9}  {r.decision:<8}  "
                f"{_when(r.evaluated_at)}"
            )
            if queries:
                lines.append(f"{'':<{width}}   {r.reason}")
                lines.append(f"{'':<{width}}   query: {' '.join(r.query.split())}")
    if status.events and events:
        lines += ["", "EVENTS", render_events(status.events[-events:])]
    return "\n".join(lines)


def render_events(events: list[Event]) -> str:
    """The audit log, one line per event: when, who, what, where, why."""
    lines = [f"  {'AT':<19}  {'ACTOR':<16} {'ACTION':<18} {'WHERE':<18} DETAIL"]
    for event in events:
        where = "/".join(x for x in (event.ring, event.region) if x)
        lines.append(f"  {_when(event.at)}  {event.actor:<16} {event.action:<18} {where:<18} {event.detail}")
    return "\n".join(lines)
