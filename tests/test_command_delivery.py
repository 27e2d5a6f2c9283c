"""Delivering a command when the workflow is briefly not ready for it.

Regression (found by the Prometheus system tests): an abort that arrived while
Temporal discarded a workflow task (UNHANDLED_COMMAND, as an activity finished)
came back as FAILED_PRECONDITION "workflow not ready"; ``send`` reported it as a
refusal (exit 1) although nothing was applied and a retry within the command's
deadline succeeds.
"""

from __future__ import annotations

from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from ringctl.releases import _deliver
from workflows.models import AbortRequest, CommandResult, ReleaseState


class _NotReadyOnce:
    """A workflow handle whose first Update meets a discarded workflow task."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []

    async def execute_update(self, update: Any, command: Any, id: str | None = None) -> CommandResult:  # noqa: A002
        self.ids.append(id)
        if len(self.ids) == 1:
            raise RPCError(
                "Unable to perform workflow execution update due to unexpected workflow task failure.",
                RPCStatusCode.FAILED_PRECONDITION,
                b"",
            )
        return CommandResult(release_id="checkout@1", state=ReleaseState.ABORTING, message="aborting")


async def test_a_workflow_not_ready_for_a_command_gets_it_again_under_the_same_update_id() -> None:
    handle = _NotReadyOnce()
    result = await _deliver(handle, "abort", AbortRequest(by="oncall", reason="stop"))  # type: ignore[arg-type]
    assert result.state is ReleaseState.ABORTING
    assert len(handle.ids) == 2 and handle.ids[0] == handle.ids[1] is not None
