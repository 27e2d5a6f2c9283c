"""Waiting on an in-process release through its status query."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import WorkflowHandle

from ringctl.workflows.models import ReleaseStatus, RingState
from ringctl.workflows.ring_release import RingRelease


async def wait_for(
    handle: WorkflowHandle, predicate: Callable[[ReleaseStatus], bool], timeout: float = 60
) -> ReleaseStatus:
    """Poll the status query until ``predicate`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await handle.query(RingRelease.status)
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last status: {status.state} {status.reason}")
        await asyncio.sleep(0.1)


def awaiting(ring: str) -> Callable[[ReleaseStatus], bool]:
    """A predicate: ``ring`` waits for approval."""
    return lambda s: any(r.name == ring and r.state is RingState.AWAITING_APPROVAL for r in s.rings)
