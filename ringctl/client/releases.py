"""Release operations for the CLI and for pipelines: start, command, query, list.

Every refusal becomes a :class:`~ringctl.core.errors.ReleaseError` with a message
meant for a person; nothing is changed when a command is refused. Temporal's errors
are mapped in one place, :mod:`ringctl.client.errors`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ringctl.client.errors import from_rpc_error, from_update_failed
from ringctl.client.lookup import (
    ENDS_WITH_STATUS,
    RPC_TIMEOUT,
    ended_status,
    latest_handle,
    release_handle,
    release_id_for,
    service_of,
)
from ringctl.client.reachability import failing_workflow_task, why_no_answer
from ringctl.core.constants import STATUS_QUERY, TASK_QUEUE, WORKFLOW_TYPE, workflow_id_for
from ringctl.core.errors import ReleaseError, UnavailableError, root_cause
from ringctl.core.plan import Plan
from ringctl.core.searchattributes import SA_SERVICE, SA_STATE, SA_VERSION
from ringctl.core.timescale import scale_plan
from ringctl.core.versions import check_version
from ringctl.workflows.models import (
    ApproveRequest,
    Command,
    CommandResult,
    OverrideRequest,
    PastRelease,
    ReleaseInput,
    ReleaseState,
    ReleaseStatus,
    RollbackRequest,
)

#: A command must be taken by a worker within this time, or the workflow refuses it (never applied later).
COMMAND_DEADLINE = timedelta(seconds=4)
#: How long the CLI waits for a command's answer: the deadline, plus room for the reply and clock skew.
COMMAND_WAIT = timedelta(seconds=5.5)
#: Pause before an Update the workflow was not ready for is sent again.
UPDATE_RETRY = timedelta(milliseconds=200)
#: How long a status query waits for a worker.
QUERY_TIMEOUT = timedelta(seconds=5)


async def start_release(
    client: Client,
    plan: Plan,
    *,
    service: str,
    version: str,
    started_by: str,
    image: str | None = None,
    task_queue: str = TASK_QUEUE,
    speed: float = 1.0,
    history_limit: int | None = None,
    metadata: dict[str, str] | None = None,
) -> WorkflowHandle[Any, ReleaseStatus]:
    """Start a release; refuse when the service is unknown or already has one in flight.

    ``speed`` above 1 runs the plan's waits that many times faster (:func:`ringctl.core.timescale.scale_plan`);
    ``history_limit`` is the history length past which it continues as a new run (default ``HISTORY_EVENTS``).
    """
    try:
        spec = plan.service(service)
    except KeyError:
        known = ", ".join(s.name for s in plan.services)
        raise ReleaseError(f"unknown service {service!r}; the plan has: {known}") from None
    try:
        check_version(version)
    except ValueError as exc:
        raise ReleaseError(f"version {exc}") from None
    release_id = release_id_for(service, version)
    request = ReleaseInput(
        release_id=release_id,
        service=service,
        version=version,
        image=image or f"{spec.image}:{version}",
        plan=scale_plan(plan.for_service(service), speed),
        started_by=started_by,
        speed=speed,
        history_limit=history_limit,
        metadata=metadata or {},
    )
    try:
        return await client.start_workflow(
            WORKFLOW_TYPE,
            request,
            result_type=ReleaseStatus,
            id=workflow_id_for(service),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=_search_attributes(service, version, ReleaseState.PENDING),
            static_summary=f"release {release_id} started by {started_by}",  # the Temporal UI's list shows it
        )
    except RPCError as exc:
        if "search attribute" in exc.message:
            raise ReleaseError(
                f"{exc.message}: register ringctl's search attributes first "
                "(`ringctl worker` does it on start, or `temporal operator search-attribute create`)"
            ) from None
        raise from_rpc_error(exc, release_id, doing=f"cannot start release {release_id}", write=True) from None
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


async def get_status(client: Client, release: str) -> ReleaseStatus:
    """The status of any release (running, ended, or superseded by a newer one), with its whole audit log.

    A release rolled back after it ended reads as one release with its rollback. Raises
    :class:`UnavailableError` when no worker answers within :data:`QUERY_TIMEOUT`, saying why
    (no worker polling, or the release's workflow task failing, with its error).
    """
    try:
        handle, described = await release_handle(client, release)
    except RPCError as exc:
        raise from_rpc_error(exc, release) from None
    try:
        description = described or await handle.describe(rpc_timeout=RPC_TIMEOUT)
        if description.status in ENDS_WITH_STATUS:
            try:
                return await ended_status(handle)  # from the history: no worker needed
            except WorkflowFailureError:
                pass  # failed without a status (a bug in an old worker): ask the workflow
        failing = await failing_workflow_task(handle)
        if failing is not None:
            raise UnavailableError(f"{release}: status unavailable: {failing}")
        status: ReleaseStatus = await handle.query(STATUS_QUERY, result_type=ReleaseStatus, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            why = await why_no_answer(client, handle, QUERY_TIMEOUT)  # say why, rather than Temporal's timeout
            raise UnavailableError(f"{release}: status unavailable: {why}") from None
        raise from_rpc_error(exc, release) from None
    if description.status not in (WorkflowExecutionStatus.RUNNING, *ENDS_WITH_STATUS):
        ended = description.status.name.lower() if description.status else "closed"
        status.reason = f"its workflow was {ended} before the release ended (last: {status.state}, {status.reason})"
    return status


class _ReleaseEnded(ReleaseError):
    """The command reached a release whose workflow had already closed."""


async def send(client: Client, release: str, update: Any, command: Command) -> CommandResult:
    """Send a command (an Update) to a release and return what it did.

    The command carries a deadline of :data:`COMMAND_DEADLINE`; the workflow refuses it after
    that, so a command reported as not applied (:class:`UnavailableError`, when no worker took
    it in time) never takes effect later. A refusal raises :class:`ReleaseError`.
    """
    handle = latest_handle(client, release)
    deadline = datetime.now(UTC) + COMMAND_DEADLINE
    changes: dict[str, Any] = {"deadline": deadline}
    if "@" in release and command.release_id is None:
        changes["release_id"] = release
    command = command.model_copy(update=changes)
    try:
        failing = await failing_workflow_task(handle)
        if failing is not None:
            raise UnavailableError(f"{release}: not applied: {failing}")
        result = await asyncio.wait_for(_deliver(handle, update, command), COMMAND_WAIT.total_seconds())
    except WorkflowUpdateFailedError as exc:
        raise from_update_failed(exc, release) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        why = await why_no_answer(client, handle, COMMAND_WAIT)
        raise UnavailableError(
            f"{release}: not applied: {why}; the command expired at {deadline:%H:%M:%S} UTC and will never apply"
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise _ReleaseEnded(f"{release}: refused: {await _ended(handle)}") from None
        raise from_rpc_error(exc, release, write=True) from None
    return result


async def send_ring_command(client: Client, release: str, request: ApproveRequest | OverrideRequest) -> CommandResult:
    """Approve a ring (the ``approve`` update) or override its error budget or window (the ``override`` update)."""
    from ringctl.workflows.ring_release import RingRelease

    if isinstance(request, OverrideRequest):
        return await send(client, release, RingRelease.override, request)
    return await send(client, release, RingRelease.approve, request)


async def _deliver(handle: WorkflowHandle[Any, Any], update: Any, command: Command) -> CommandResult:
    """Send the Update until the workflow takes it: a workflow task that failed or was discarded
    while the command arrived (Temporal's "workflow not ready") lost nothing and is retried, under
    one update id so the command applies at most once; the caller bounds the whole by its deadline.
    """
    update_id = str(uuid.uuid4())
    while True:
        try:
            result: CommandResult = await handle.execute_update(update, command, id=update_id)
            return result
        except RPCError as exc:
            if exc.status is not RPCStatusCode.FAILED_PRECONDITION:
                raise
            await asyncio.sleep(UPDATE_RETRY.total_seconds())


async def rollback_release(client: Client, release: str, *, by: str, reason: str) -> CommandResult:
    """Roll back a release: a running one through its ``rollback`` Update; an ended one
    (completed, aborted, or whose rollback failed) within the plan's retention, as a new run.

    Only the latest release of a service can be rolled back after it ended.
    """
    from ringctl.workflows.ring_release import RingRelease

    handle = latest_handle(client, release)
    try:
        description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        raise from_rpc_error(exc, release) from None
    if description.status is WorkflowExecutionStatus.RUNNING:
        try:
            return await send(client, release, RingRelease.rollback, RollbackRequest(by=by, reason=reason))
        except _ReleaseEnded:
            pass  # it ended meanwhile (an abort or its last ring won the race): roll back the ended release
        description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    try:
        status = await ended_status(handle)
    except WorkflowFailureError as exc:
        raise ReleaseError(
            f"{release}: the last run did not end normally ({root_cause(exc)}); nothing to roll back from"
        ) from None
    if "@" in release and status.release_id != release:
        raise ReleaseError(
            f"{release} is not the latest release of {service_of(release)} ({status.release_id} is); "
            "only the latest release can be rolled back after it ended"
        )
    if not status.state.can_roll_back:
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
    past = PastRelease(status=status, by=by, reason=reason)
    request = original.model_copy(update={"rollback_of": past, "continued": None})
    try:
        await client.start_workflow(
            WORKFLOW_TYPE,
            request,
            result_type=ReleaseStatus,
            id=handle.id,
            task_queue=description.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=_search_attributes(status.service, status.version, ReleaseState.ROLLING_BACK),
            static_summary=f"rollback of {status.release_id} (ended {status.state}) by {by}",
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


async def _ended(handle: WorkflowHandle[Any, Any]) -> str:
    """Why a release no longer takes commands, in the release's own terms (``rolled_back``, not ``completed``)."""
    try:
        description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        if description.status is WorkflowExecutionStatus.RUNNING:
            return "the release is not accepting commands"
        if description.status in ENDS_WITH_STATUS:
            status = await ended_status(handle)
            return f"release {status.release_id} has ended ({status.state})"
    except (RPCError, WorkflowFailureError):
        return f"no release found (workflow {handle.id})"
    execution = description.status.name.lower() if description.status else "unknown"
    return f"the release's workflow has ended ({execution})"
