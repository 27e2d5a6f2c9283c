"""The runs of a release's workflow, first to last: a release continues as new runs past its history limit."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory


async def runs_of(client: Client, workflow_id: str, first_run: str) -> list[WorkflowHistory]:
    """Every run of the workflow from ``first_run`` on, following continue-as-new."""
    histories, run_id = [], first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id if continued else ""
    return histories
