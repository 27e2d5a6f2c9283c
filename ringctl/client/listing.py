"""Listing releases from Temporal visibility: one row per release, and what waits for whom.

Visibility holds one row per run; a release that continued as new, or was rolled back
after it ended, has several. :func:`list_releases` folds them into the release: started
when its first run started, in the state of its newest run. :func:`waiting_releases` is
one visibility query whatever the number of releases (issue 13: under a second for 1,000).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from ringctl.client.lookup import quoted, release_id_for
from ringctl.core.constants import ANYONE, MEMO_WAITING, WORKFLOW_TYPE
from ringctl.core.searchattributes import SA_RING, SA_SERVICE, SA_STATE, SA_VERSION, SA_WAITING_FOR
from ringctl.workflows.models import ReleaseState

#: Release states that end a release.
FINAL_STATES = tuple(str(state) for state in ReleaseState if state.is_final)
#: What ``list`` shows for a run that Temporal ended before the release did (terminated by hand, timed out).
CLOSED_EARLY = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
}
#: Every state ``list --state`` can filter on.
LISTED_STATES = (*(str(state) for state in ReleaseState), *CLOSED_EARLY.values())
#: Runs per visibility page.
PAGE_SIZE = 1000


class ReleaseRow(BaseModel):
    """One release as ``ringctl list`` shows it."""

    release_id: str
    state: str
    ring: str | None = None
    started_at: datetime
    closed_at: datetime | None = None
    workflow_id: str
    run_id: str = Field(description="the run holding the release's latest status")
    waiting_for: list[str] = Field(default_factory=list, description="who may act on its wait; * for anyone")
    waiting: str | None = Field(default=None, description="what it waits for, as the release says it")


async def list_releases(client: Client, service: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
    """Releases known to Temporal visibility, newest first, one each, filtered by service and state."""
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    if service:
        clauses.append(f"RingctlService = {quoted(service, service)}")
    releases: dict[str, ReleaseRow] = {}
    async for execution in client.list_workflows(" AND ".join(clauses), page_size=PAGE_SIZE):  # newest run first
        row = await _row(execution)
        known = releases.get(row.release_id)
        if known is None:
            releases[row.release_id] = row
        else:  # an earlier run of the same release: the release started then
            known.started_at = min(known.started_at, row.started_at)
    rows = [row for row in releases.values() if state is None or row.state == state]
    rows.sort(key=lambda row: row.started_at, reverse=True)
    return [row.model_dump(mode="json") for row in rows]


async def waiting_releases(client: Client, waiting_for: str | None = None) -> list[dict[str, Any]]:
    """Running releases waiting for an approval, a window or a budget override; with ``waiting_for``,
    those that user or group may act on (or anyone may). One visibility query.
    """
    states = ", ".join(f"'{state}'" for state in ReleaseState if state.waits_for_a_person)
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND RingctlState IN ({states})"
    if waiting_for:
        query += f" AND RingctlWaitingFor IN ({quoted(waiting_for, waiting_for)}, '{ANYONE}')"
    rows = [await _row(execution) async for execution in client.list_workflows(query, page_size=PAGE_SIZE)]
    rows.sort(key=lambda row: row.started_at)  # the longest waiting first
    return [row.model_dump(mode="json") for row in rows]


async def _row(execution: WorkflowExecution) -> ReleaseRow:
    attrs = execution.typed_search_attributes
    state = attrs.get(SA_STATE) or str(ReleaseState.PENDING)
    if execution.status in CLOSED_EARLY:
        state = CLOSED_EARLY[execution.status]
    elif execution.status is WorkflowExecutionStatus.FAILED and state not in FINAL_STATES:
        state = str(ReleaseState.FAILED)  # failed by a bug, before the release could say how it ended
    waiting_for = attrs.get(SA_WAITING_FOR) or []
    waiting = await execution.memo_value(MEMO_WAITING, default=None) if waiting_for else None
    return ReleaseRow(
        release_id=release_id_for(attrs.get(SA_SERVICE) or "?", attrs.get(SA_VERSION) or "?"),
        state=state,
        ring=attrs.get(SA_RING) or None,
        started_at=execution.start_time,
        closed_at=execution.close_time,
        workflow_id=execution.id,
        run_id=execution.run_id,
        waiting_for=list(waiting_for),
        waiting=waiting,
    )
