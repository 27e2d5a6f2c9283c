"""The HTML of ``ringctl serve``: the releases table, and one release's rings as a pipeline.

Pure functions of what the client calls returned (rows of ``list_releases``, a
:class:`~ringctl.workflows.models.ReleaseStatus`) or of the error they raised.
Every text is escaped with :func:`html.escape`. The page's one script refreshes
``<main id="content">`` every :data:`REFRESH_SECONDS` by fetching the page again,
so rendering lives only here; :data:`CONTENT_SECURITY_POLICY` allows that script
and style and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from ringctl.activities.models import GateResult
from ringctl.workflows.models import ReleaseState, ReleaseStatus, RingStatus

#: How often an open page fetches itself again.
REFRESH_SECONDS = 2.5
#: How many of a release's latest events its page lists.
EVENTS_SHOWN = 10

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}#live{margin-left:auto;font-size:12px;color:#aab}
#live.stale{color:#ffb3b3}main{padding:1em 1.2em}h1{font-size:20px;margin:.2em 0 .5em}h2{font-size:16px}
table{border-collapse:collapse;background:#fff;margin-bottom:1.2em}
th,td{text-align:left;padding:.3em .7em;border-bottom:1px solid #e3e5ea;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}dl{display:grid;grid-template-columns:max-content auto;
gap:.2em 1em;margin:0 0 1em}dt{color:#667}dd{margin:0}
.pipeline{display:flex;gap:1.6em;list-style:none;padding:0;margin:0 0 1.5em;overflow-x:auto}
.ring{background:#fff;border:1px solid #d5d8df;border-radius:6px;padding:.6em .8em;min-width:11em;position:relative}
.ring+.ring::before{content:"\\2192";position:absolute;left:-1.25em;top:.6em;color:#889;font-size:18px}
.ring.current{border:2px solid #3a6fd8}.ring h2{margin:0 0 .3em}.ring p{margin:.2em 0;font-size:12px;color:#556}
.regions{list-style:none;padding:0;margin:.4em 0 0}.regions li{display:flex;justify-content:space-between;gap:.8em}
.badge{display:inline-block;padding:0 .45em;border-radius:4px;font-size:12px;background:#e6e8ee}
.good{background:#d6f5dd;color:#185c2b}.wait{background:#fff1cc;color:#6b4e00}.bad{background:#fbd9d9;color:#8a1c1c}
.error{background:#fbd9d9;color:#8a1c1c;padding:.7em 1em;border-radius:6px;margin-bottom:1em}
.muted{color:#778;font-size:12px}
"""

_SCRIPT = """
(() => {
  const every = Number(document.body.dataset.refreshMs);
  const live = document.getElementById("live");
  async function refresh() {
    try {
      const response = await fetch(location.href, {cache: "no-store"});
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("content");
      if (!fresh) throw new Error("not a ringctl page");
      document.getElementById("content").replaceWith(fresh);
      document.title = page.title;
      live.textContent = "live";
      live.className = "";
    } catch (error) {
      live.textContent = "ringctl serve is not answering; retrying";
      live.className = "stale";
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: The page's own script and style, its own fetches, nothing else (no forms, frames or outside content).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_sha256(_SCRIPT)}; style-src {_sha256(_STYLE)}; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_GOOD = {"completed", "promoted", "healthy", "pass"}
_BAD = {"failed", "halted", "rolled_back", "rolling_back", "aborted", "aborting", "fail"}


def _badge(state: object) -> str:
    text = str(state) if state else "-"
    tone = "good" if text in _GOOD else "bad" if text in _BAD else "" if text in ("-", "pending") else "wait"
    return f'<span class="badge {tone}">{escape(text)}</span>'


def _when(at: datetime | str | None) -> str:
    """``2025-01-31 14:05:09`` in UTC; a timestamp string as ``list_releases`` gives it; ``-`` for none."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return escape(str(at))
    if at is None:
        return "-"
    return (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _release_path(release_id: str) -> str:
    """The page of one release: ``/releases/<release_id>``, quoted."""
    return "/releases/" + quote(release_id, safe="@")


def _page(title: str, content: str, now: datetime) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-refresh-ms="{int(REFRESH_SECONDS * 1000)}">'
        '<header><a href="/">ringctl releases</a><span class="muted">read-only</span>'
        '<span id="live">live</span></header>'
        f'<main id="content">{content}'
        f'<p class="muted" id="as-of">as of {_when(now)} UTC; refreshes every {REFRESH_SECONDS:g} s</p></main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )


def _error(message: str) -> str:
    return f'<div class="error" role="alert">{escape(message)}</div>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: frozenset[int] = frozenset()) -> str:
    """A table of already-escaped cells; columns in ``numeric`` align right."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _release_link(release_id: str) -> str:
    return f'<a href="{escape(_release_path(release_id))}">{escape(release_id)}</a>'


def releases_page(rows: Sequence[Mapping[str, Any]] | None, now: datetime, error: str | None = None) -> str:
    """Every release ``list_releases`` returned, newest first, each linking to its page; or why none could be read."""
    if error is not None:
        content = "<h1>Releases</h1>" + _error(error)
    elif not rows:
        content = "<h1>Releases</h1><p>No releases yet.</p>"
    else:
        content = "<h1>Releases</h1>" + _table(
            ("release", "state", "ring", "who may act", "started (UTC)", "closed (UTC)"),
            (
                (
                    _release_link(str(row.get("release_id"))),
                    _badge(row.get("state")),
                    escape(str(row.get("ring") or "-")),
                    escape(
                        ", ".join("anyone" if who == "*" else str(who) for who in row.get("waiting_for") or []) or "-"
                    ),
                    _when(row.get("started_at")),
                    _when(row.get("closed_at")),
                )
                for row in rows
            ),
        )
    return _page("ringctl releases", content, now)


def release_page(release_id: str, status: ReleaseStatus | None, now: datetime, error: str | None = None) -> str:
    """One release: its state, reason and current wait; its rings left to right; latest gate results; events."""
    if status is None:
        content = f"<h1>{escape(release_id)}</h1>" + _error(error or "no status")
        return _page(f"{release_id} - ringctl", content, now)
    content = "".join(
        (
            f"<h1>{escape(status.release_id)} {_badge(status.state)}</h1>",
            _summary(status),
            '<ol class="pipeline">',
            *(_ring(ring, ring.name == status.current_ring) for ring in status.rings),
            "</ol>",
            _gates(status),
            _events(status),
        )
    )
    return _page(f"{status.release_id}: {status.state} - ringctl", content, now)


def waiting_for(status: ReleaseStatus) -> str:
    """What the release waits for now, in words; empty when it is not waiting."""
    ring = next((r for r in status.rings if r.name == status.current_ring), None)
    name = status.current_ring or "-"
    if status.paused:
        return "a resume (paused)"
    if status.state is ReleaseState.AWAITING_APPROVAL and ring is not None:
        who = ", ".join(a.approver for a in ring.approvals) or "nobody yet"
        return f"approval of {name} (approved by: {who})"
    if status.state is ReleaseState.AWAITING_WINDOW and ring is not None:
        return f"the deployment window of {name}, opening {_when(ring.waiting_until)} UTC"
    if status.state is ReleaseState.AWAITING_BUDGET_OVERRIDE:
        return f"an error budget override for {name}"
    if status.state is ReleaseState.HOLDING:
        return f"gate data in {name} (missing data holds the release)"
    if status.state is ReleaseState.BAKING and ring is not None:
        return f"{name} to bake ({ring.evaluations} gate evaluations so far)"
    return ""


def _summary(status: ReleaseStatus) -> str:
    items = [
        ("image", escape(status.image)),
        ("current ring", escape(status.current_ring or "-")),
        ("started", f"{_when(status.started_at)} UTC by {escape(status.started_by)}"),
        ("updated", f"{_when(status.updated_at)} UTC"),
    ]
    if status.reason:
        items.append(("reason", escape(status.reason)))
    wait = waiting_for(status)
    if wait:
        items.append(("waiting for", escape(wait)))
    items += [(escape(key), escape(value)) for key, value in status.metadata.items()]
    return "<dl>" + "".join(f"<dt>{key}</dt><dd>{value}</dd>" for key, value in items) + "</dl>"


def _ring(ring: RingStatus, current: bool) -> str:
    notes = []
    if ring.approval_required:
        who = ", ".join(a.approver for a in ring.approvals) or "none yet"
        notes.append(f"approval required; approved by: {who}")
    if ring.waiting_until is not None:
        notes.append(f"window opens {_when(ring.waiting_until)} UTC")
    if ring.message:
        notes.append(ring.message)
    regions = "".join(
        f'<li><span class="region">{escape(region.name)}</span>{_badge(region.state)}</li>' for region in ring.regions
    )
    return (
        f'<li class="ring{" current" if current else ""}" data-ring="{escape(ring.name)}">'
        f"<h2>{escape(ring.name)}</h2><p>{_badge(ring.state)}</p>"
        + "".join(f"<p>{escape(note)}</p>" for note in notes)
        + f'<ul class="regions">{regions}</ul></li>'
    )


def _latest_gate_results(status: ReleaseStatus) -> list[tuple[str, GateResult]]:
    """The latest result of each gate in each region, as (ring, result), in ring order."""
    latest: dict[tuple[str, str, str], GateResult] = {}
    for ring in status.rings:
        for result in ring.gate_results:
            latest[(ring.name, result.gate, result.region)] = result
    return [(ring_name, result) for (ring_name, _, _), result in latest.items()]


def _gates(status: ReleaseStatus) -> str:
    results = _latest_gate_results(status)
    if not results:
        return "<h2>Gates</h2><p>No gate evaluated yet.</p>"
    return "<h2>Latest gate results</h2>" + _table(
        ("ring", "gate", "SLO", "region", "value", "threshold", "samples", "decision", "evaluated (UTC)", "why"),
        (
            (
                escape(ring_name),
                escape(r.gate),
                escape(r.slo or "-"),
                escape(r.region),
                _number(r.value),
                escape(f"{r.comparison} {_number(r.threshold)}"),
                _number(r.samples),
                _badge(r.verdict),
                _when(r.evaluated_at),
                escape(r.reason),
            )
            for ring_name, r in results
        ),
        numeric=frozenset({4, 5, 6}),
    )


def _events(status: ReleaseStatus) -> str:
    if not status.events:
        return ""
    return "<h2>Latest events</h2>" + _table(
        ("at (UTC)", "actor", "action", "where", "detail"),
        (
            (
                _when(e.at),
                escape(e.actor),
                escape(e.action),
                escape("/".join(x for x in (e.ring, e.region) if x)),
                escape(e.detail),
            )
            for e in reversed(status.events[-EVENTS_SHOWN:])
        ),
    )
