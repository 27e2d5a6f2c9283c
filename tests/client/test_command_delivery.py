"""Delivering a command when the workflow is briefly not ready for it.

Regression (found by the Prometheus system tests): an abort that arrived while
Temporal discarded a workflow task (UNHANDLED_COMMAND, as an activity finished)
came back as FAILED_PRECONDITION "workflow not ready"; ``send`` reported it as a
refusal (exit 1) although nothing was applied and a retry within the command's
deadline succeeds.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ringctl.client import releases
from ringctl.client.releases import _deliver
from ringctl.core.constants import COMMAND_EXPIRED
from ringctl.core.errors import UnavailableError
from ringctl.workflows.models import AbortRequest, CommandResult, ReleaseState


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


class _Expired:
    """A workflow handle whose worker took the command only after its deadline (the validator refused it)."""

    async def describe(self, **_: Any) -> Any:
        return SimpleNamespace(raw_description=SimpleNamespace(pending_workflow_task=None))

    async def execute_update(self, update: Any, command: Any, id: str | None = None) -> CommandResult:  # noqa: A002
        expired = ApplicationError("this command expired at 10:00:00 UTC before a worker took it", type=COMMAND_EXPIRED)
        raise WorkflowUpdateFailedError(expired)


async def test_a_command_refused_as_expired_is_not_applied_exit_4_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (fault report): an expired command came back as a refusal (exit 1); it is "not applied" (exit 4)."""
    monkeypatch.setattr(releases, "latest_handle", lambda client, release: _Expired())
    with pytest.raises(UnavailableError, match="not applied: this command expired"):
        await releases.send(None, "checkout@1", "approve", AbortRequest(by="alice", reason="x"))  # type: ignore[arg-type]
