"""Why a release does not answer: no worker polls its task queue, or its workflow task keeps failing.

Commands and status queries need a worker. When none answers in time, the CLI
says which of these it is, from what the Temporal server knows, instead of a
bare timeout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

#: How long each diagnostic call may take.
DIAGNOSE_TIMEOUT = timedelta(seconds=2)
#: The longest failure text quoted from a failing workflow task.
MAX_ERROR_TEXT = 300


async def failing_workflow_task(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The error of the release's workflow task if it has failed more than once in a row, else ``None``."""
    description = await handle.describe(rpc_timeout=DIAGNOSE_TIMEOUT)
    pending = description.raw_description.pending_workflow_task
    if pending is None or pending.attempt <= 1:
        return None
    error = "unknown error"
    async for event in handle.fetch_history_events(rpc_timeout=DIAGNOSE_TIMEOUT):
        if event.HasField("workflow_task_failed_event_attributes"):
            failure = event.workflow_task_failed_event_attributes.failure
            messages = [failure.message]
            while failure.HasField("cause"):
                failure = failure.cause
                messages.append(failure.message)
            error = " <- ".join(m for m in messages if m)
    if len(error) > MAX_ERROR_TEXT:
        error = error[: MAX_ERROR_TEXT - 3] + "..."
    return f"its workflow task keeps failing (attempt {pending.attempt}): {error}; fix the worker (see its log)"


async def why_no_answer(client: Client, handle: WorkflowHandle[Any, Any], waited: timedelta) -> str:
    """One sentence on why no worker answered the release within ``waited``."""
    try:
        failing = await failing_workflow_task(handle)
        if failing is not None:
            return failing
        task_queue = (await handle.describe(rpc_timeout=DIAGNOSE_TIMEOUT)).task_queue
        queue = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=DIAGNOSE_TIMEOUT,
        )
    except RPCError as exc:
        return f"Temporal did not say why ({exc.message})"
    if not queue.pollers:
        return f"no worker is polling task queue {task_queue!r}; start `ringctl worker`"
    seconds = waited.total_seconds()
    return f"no worker answered within {seconds:g} s (a worker polls {task_queue!r} but is busy or stuck)"
