"""Render releases for people: a status as tables, the audit log, the release lists. Times are UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ringctl.workflows.models import Event, ReleaseStatus


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _iso_when(text: str | None) -> str:
    return _when(datetime.fromisoformat(text)) if text else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [f"{cell:<{width}}" for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]))
    return "\n".join(lines)


def render_releases(rows: list[dict[str, Any]]) -> str:
    """``ringctl list``: one line per release."""
    return table(
        ("RELEASE", "STATE", "RING", "STARTED (UTC)", "ENDED (UTC)"),
        [
            (r["release_id"], r["state"], r["ring"] or "-", _iso_when(r["started_at"]), _iso_when(r["closed_at"]))
            for r in rows
        ],
    )


def render_waiting(rows: list[dict[str, Any]]) -> str:
    """``ringctl list --waiting``: what each release waits for, who may act on it, since when."""
    if not rows:
        return "nothing is waiting"
    return table(
        ("RELEASE", "WAITING FOR", "RING", "WHO MAY ACT", "STARTED (UTC)", "WHY"),
        [
            (
                r["release_id"],
                r["state"].removeprefix("awaiting_"),
                r["ring"] or "-",
                ", ".join("anyone" if who == "*" else who for who in r["waiting_for"]) or "-",
                _iso_when(r["started_at"]),
                r["waiting"] or "-",
            )
            for r in rows
        ],
    )


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
        f"   ring {status.current_ring or '-'}   started by {status.started_by} at {_when(status.started_at)} UTC",
    ]
    if status.reason:
        lines.append(f"reason   {status.reason}")
    if status.metadata:
        lines.append("build    " + "   ".join(f"{key} {value}" for key, value in status.metadata.items()))
    lines += ["", f"{'RING':<12} {'REGION':<18} {'STATE':<18} {'SINCE (UTC)':<19}  MESSAGE"]
    for ring in status.rings:
        approval = ""
        if ring.approval_required:
            who = ", ".join(a.approver + (" (signed)" if a.key_fingerprint else "") for a in ring.approvals)
            who = who or "none yet"
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
                "DECISION      AT"
            ),
        ]
        for (ring_name, gate, where), r in latest.items():
            lines.append(
                f"{ring_name + '/' + gate:<{width}} {r.slo or '-':<14} {where:<18} {_number(r.value):>10} "
                f"{r.comparison + ' ' + _number(r.threshold):>12} {_number(r.samples):>9}  {r.verdict:<12}  "
                f"{_when(r.evaluated_at)}"
            )
            if queries:
                lines.append(f"{'':<{width}}   {r.reason}")
                lines.append(f"{'':<{width}}   query: {' '.join(r.query.split())}")
    if status.events and events:
        lines += ["", "EVENTS", render_events(status.events[-events:])]
    return "\n".join(lines)


def render_events(events: list[Event]) -> str:
    """The audit log, one line per event: when, who, what, where, why; signed commands with their key."""
    rows = []
    for event in events:
        detail = event.detail
        if event.key_fingerprint:
            detail = f"{detail}  [signed, key {event.key_fingerprint}]".strip()
        where = "/".join(x for x in (event.ring, event.region) if x) or "-"
        rows.append((_when(event.at), event.actor, event.action, where, detail))
    lines = table(("AT (UTC)", "ACTOR", "ACTION", "WHERE", "DETAIL"), rows).splitlines()
    return "\n".join("  " + line.rstrip() for line in lines)
