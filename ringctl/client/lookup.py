"""Finding the run that holds a release, and reading its status however the release ended.

A service's releases share one workflow id (the per-service lock), one run after the
other; a release may span several runs (it continues as new when its history grows, and
a rollback after it ended is a new run that carries the whole release). The newest run
with the release's version holds its complete status and audit log. A release that ended
other than completed ends its workflow as failed (the Temporal UI shows it so), with the
status in the failure's details.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError

from ringctl.core.constants import WORKFLOW_TYPE, workflow_id_for
from ringctl.core.errors import ReleaseError
from ringctl.core.searchattributes import SA_VERSION
from ringctl.core.versions import VERSION_PATTERN
from ringctl.workflows.models import ReleaseStatus

#: Calls the Temporal server answers by itself.
RPC_TIMEOUT = timedelta(seconds=8)
#: Run ends that carry a status: its result, or its failure's details.
ENDS_WITH_STATUS = (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED)


def release_id_for(service: str, version: str) -> str:
    """A release's id: ``<service>@<version>``."""
    return f"{service}@{version}"


def service_of(release: str) -> str:
    """The service named by a release id (``checkout@1.2.3``) or a bare service name."""
    return release.split("@", 1)[0]


def quoted(value: str, release: str) -> str:
    """``value`` quoted for a visibility query; a value no release can have is "no release found"."""
    if VERSION_PATTERN.fullmatch(value) is None:  # service names and versions alike: image-tag characters
        raise ReleaseError(f"no release found for {release!r}")
    return f"'{value}'"


def latest_handle(client: Client, release: str) -> WorkflowHandle[Any, ReleaseStatus]:
    """The handle of the latest run of the service ``release`` names (a release id or a service)."""
    return client.get_workflow_handle(workflow_id_for(service_of(release)), result_type=ReleaseStatus)


async def release_handle(
    client: Client, release: str
) -> tuple[WorkflowHandle[Any, ReleaseStatus], WorkflowExecutionDescription | None]:
    """The handle of the run holding ``release``: the service's latest run for a service name or its
    latest release; for an older release (superseded, or ended before the current one started),
    its newest run, found in Temporal visibility. ``ReleaseError`` when there is none.

    With the handle, the run's description when finding it took one (``None`` otherwise): callers
    need not ask Temporal for it again.
    """
    handle = latest_handle(client, release)
    if "@" not in release:
        return handle, None
    service, version = release.split("@", 1)
    description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    if description.typed_search_attributes.get(SA_VERSION) == version:
        return handle, description
    query = (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND WorkflowId = {quoted(workflow_id_for(service), release)} "
        f"AND RingctlVersion = {quoted(version, release)} AND ExecutionStatus != 'ContinuedAsNew'"
    )
    async for execution in client.list_workflows(query, limit=1, rpc_timeout=RPC_TIMEOUT):  # newest first
        return client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=ReleaseStatus), None
    raise ReleaseError(f"no release found for {release!r}")


async def ended_status(
    handle: WorkflowHandle[Any, ReleaseStatus], rpc_timeout: timedelta | None = RPC_TIMEOUT
) -> ReleaseStatus:
    """The final status of a run: its result if the release completed, else the status its failure carries.

    Waits for a running release to end (``rpc_timeout=None`` to wait as long as it takes). Re-raises
    ``WorkflowFailureError`` for a run that ended without a status (terminated, timed out, a bug).
    """
    try:
        return await handle.result(rpc_timeout=rpc_timeout)
    except WorkflowFailureError as exc:
        status = status_of_failure(exc)
        if status is None:
            raise
        return status


def status_of_failure(exc: WorkflowFailureError) -> ReleaseStatus | None:
    """The release status a run's failure carries (it ended rolled back, aborted or failed), else ``None``."""
    cause = exc.cause
    if not isinstance(cause, ApplicationError) or not cause.details:
        return None
    try:
        return ReleaseStatus.model_validate(cause.details[0])
    except ValidationError:
        return None
