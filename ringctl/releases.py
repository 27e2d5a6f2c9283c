"""Release operations for the CLI and for pipelines: start, command, query, list.

Every refusal becomes a :class:`~ringctl.errors.ReleaseError` with a message
meant for a person; nothing is changed when a command is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ringctl.constants import SA_RING, SA_SERVICE, SA_STATE, SA_VERSION, TASK_QUEUE, workflow_id_for
from ringctl.errors import ReleaseError
from ringctl.plan import Plan
from workflows.models import (
    Command,
    CommandResult,
    PastRelease,
    ReleaseInput,
    ReleaseState,
    ReleaseStatus,
    RollbackRequest,
)
from workflows.ring_release import RingRelease


def release_id_for(service: str, version: str) -> str:
    """A release's id: ``<service>@<version>``."""
    return f"{service}@{version}"


def service_of(release: str) -> str:
    """The service named by a release id (``checkout@1.2.3``) or a bare service name."""
    return release.split("@", 1)[0]


async def start_release(
    client: Client,
    plan: Plan,
    *,
    service: str,
    version: str,
    started_by: str,
    image: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> WorkflowHandle[RingRelease, ReleaseStatus]:
    """Start a release; refuse when the service is unknown or already has one in flight."""
    try:
        spec = plan.service(service)
    except KeyError:
        known = ", ".join(s.name for s in plan.services)
        raise ReleaseError(f"unknown service {service!r}; the plan has: {known}") from None
    release_id = release_id_for(service, version)
    request = ReleaseInput(
        release_id=release_id,
        service=service,
        version=version,
        image=image or f"{spec.image}:{version}",
        plan=plan,
        started_by=started_by,
    )
    try:
        return await client.start_workflow(
            RingRelease.run,
            request,
            id=workflow_id_for(service),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=_search_attributes(service, version, ReleaseState.PENDING),
        )
    except RPCError as exc:
        if "search attribute" in exc.message:
            raise ReleaseError(
                f"{exc.message}: register ringctl's search attributes first "
                "(`ringctl worker` does it on start, or `temporal operator search-attribute create`)"
            ) from None
        raise ReleaseError(f"cannot start release {release_id}: {exc.message}") from None
    except WorkflowAlreadyStartedError:
        running = await _describe_running(client, service)
        raise ReleaseError(
            f"service {service!r} already has a release in flight: {running}; "
            "wait for it to end, or roll it back or abort it first"
        ) from None


async def _describe_running(client: Client, service: str) -> str:
    try:
        status = await get_status(client, service)
    except ReleaseError:
        return "(status unavailable)"
    return f"{status.release_id} ({status.state})"


def handle_for(client: Client, release: str) -> WorkflowHandle[RingRelease, ReleaseStatus]:
    """The workflow handle of a release id or service name (its latest run)."""
    return client.get_workflow_handle_for(RingRelease.run, workflow_id_for(service_of(release)))


async def get_status(client: Client, release: str) -> ReleaseStatus:
    """The release's status; works for running and ended releases."""
    handle = handle_for(client, release)
    try:
        description = await handle.describe()
        if description.status is WorkflowExecutionStatus.COMPLETED:
            status = await handle.result()  # from the history: no worker needed
        else:
            status = await handle.query(RingRelease.status)
    except RPCError as exc:
        raise _not_found(release, exc) from None
    if "@" in release and status.release_id != release:
        raise ReleaseError(f"release {release} is not the latest release of its service; that is {status.release_id}")
    return status


async def send(client: Client, release: str, update: Any, command: Command) -> CommandResult:
    """Send a command (an Update) to a release; a refusal raises :class:`ReleaseError`."""
    handle = handle_for(client, release)
    if "@" in release and command.release_id is None:
        command = command.model_copy(update={"release_id": release})
    try:
        result: CommandResult = await handle.execute_update(update, command)
    except WorkflowUpdateFailedError as exc:
        raise ReleaseError(f"{release}: refused: {_cause(exc)}") from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            description = await _ended(handle)
            raise ReleaseError(f"{release}: refused: {description}") from None
        raise ReleaseError(f"{release}: {exc.message}") from None
    return result


async def rollback_release(client: Client, release: str, *, by: str, reason: str) -> CommandResult:
    """Roll back a release: a running one through its ``rollback`` Update; an ended one
    (completed, aborted, or whose rollback failed) within the plan's retention, as a new run.

    Only the latest release of a service can be rolled back after it ended.
    """
    handle = handle_for(client, release)
    try:
        description = await handle.describe()
    except RPCError as exc:
        raise _not_found(release, exc) from None
    if description.status is WorkflowExecutionStatus.RUNNING:
        return await send(client, release, RingRelease.rollback, RollbackRequest(by=by, reason=reason))
    try:
        status = await handle.result()
    except WorkflowFailureError as exc:
        raise ReleaseError(
            f"{release}: the last run did not end normally ({_cause(exc)}); nothing to roll back from"
        ) from None
    if "@" in release and status.release_id != release:
        raise ReleaseError(
            f"{release} is not the latest release of {service_of(release)} ({status.release_id} is); "
            "only the latest release can be rolled back after it ended"
        )
    if status.state not in (ReleaseState.COMPLETED, ReleaseState.ABORTED, ReleaseState.FAILED):
        raise ReleaseError(f"{status.release_id} is already {status.state}")
    now = datetime.now(UTC)
    if status.rollback_until is None or now > status.rollback_until:
        raise ReleaseError(
            f"{status.release_id} ended and its rollback retention expired at "
            f"{status.rollback_until:%Y-%m-%d %H:%M} UTC; release the previous version instead"
        )
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [original] = await client.data_converter.decode(started.input.payloads, [ReleaseInput])
    request = original.model_copy(update={"rollback_of": PastRelease(status=status, by=by, reason=reason)})
    try:
        await client.start_workflow(
            RingRelease.run,
            request,
            id=handle.id,
            task_queue=description.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=_search_attributes(status.service, status.version, ReleaseState.ROLLING_BACK),
        )
    except WorkflowAlreadyStartedError:
        raise ReleaseError(f"{service_of(release)} has a release in flight now; roll that one back instead") from None
    return CommandResult(release_id=status.release_id, state=ReleaseState.ROLLING_BACK, message="rollback started")


def _search_attributes(service: str, version: str, state: ReleaseState) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(SA_SERVICE, service),
            SearchAttributePair(SA_VERSION, version),
            SearchAttributePair(SA_STATE, str(state)),
        ]
    )


async def list_releases(client: Client, service: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
    """Releases known to Temporal visibility, newest first, filtered by service and state."""
    clauses = ["WorkflowType = 'RingRelease'"]
    if service:
        clauses.append(f"RingctlService = '{service}'")
    if state:
        clauses.append(f"RingctlState = '{state}'")
    rows = []
    async for execution in client.list_workflows(" AND ".join(clauses)):
        attrs = execution.typed_search_attributes
        rows.append(
            {
                "release_id": release_id_for(attrs.get(SA_SERVICE) or "?", attrs.get(SA_VERSION) or "?"),
                "state": attrs.get(SA_STATE),
                "ring": attrs.get(SA_RING) or None,
                "started_at": execution.start_time.isoformat(),
                "closed_at": execution.close_time.isoformat() if execution.close_time else None,
                "workflow_id": execution.id,
                "run_id": execution.run_id,
            }
        )
    return rows


async def _ended(handle: WorkflowHandle[Any, Any]) -> str:
    try:
        description = await handle.describe()
    except RPCError:
        return f"no release found (workflow {handle.id})"
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return f"the release has ended ({description.status.name.lower() if description.status else 'unknown'})"
    return "the release is not accepting commands"


def _not_found(release: str, exc: RPCError) -> ReleaseError:
    if exc.status is RPCStatusCode.NOT_FOUND:
        return ReleaseError(f"no release found for {release!r}")
    if exc.status is RPCStatusCode.DEADLINE_EXCEEDED or "Timeout" in exc.message:
        return ReleaseError(f"{release}: no worker answered the status query; is `ringctl worker` running?")
    return ReleaseError(f"{release}: {exc.message}")


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return getattr(exc, "message", None) or str(exc)
