"""Which worker ran what: two `ringctl worker` processes on one task queue are told apart in Temporal's history.

Regression (issue 11): every worker started by one actor identified itself as ``ringctl:<actor>``,
so the history (and the Temporal UI) could not say which worker, or pod, ran a task.
"""

from __future__ import annotations

import asyncio
import re
import socket

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from ringctl.client.releases import workflow_id_for
from tests.support.stack import Stack


async def _task_identities(address: str) -> set[str]:
    client = await Client.connect(address)
    history = await client.get_workflow_handle(workflow_id_for("checkout")).fetch_history()
    return {
        e.workflow_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    } | {
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }


def test_each_worker_process_names_itself_in_the_history(stack: Stack) -> None:
    workers = [stack.worker(), stack.worker()]
    release = stack.cli.start("checkout", "2.2.0", "--speed", "10000")
    stack.cli.wait_for(release, lambda s: s["state"] == "baking", 60, "the release to bake")
    identities = asyncio.run(_task_identities(stack.server.address))
    pids = {str(w.process.pid) for w in workers if w.process is not None}
    host = re.escape(socket.gethostname())
    for identity in identities:
        match = re.fullmatch(rf"ringctl:[^:]+:(\d+)@{host}", identity)
        assert match and match[1] in pids, f"{identity!r} names no worker process ({pids})"
