"""Region activities: deploy, wait for the rollout, roll back, through a :class:`DeployTarget`.

They are blocking (the Kubernetes client is synchronous) and run on the
worker's thread pool. Each provider call runs in a helper thread while the
activity heartbeats every :data:`HEARTBEAT_EVERY` seconds, so a worker lost
mid-call is noticed within the workflow's heartbeat timeout, and a cancelled
activity stops waiting at once. Provider errors are translated at the activity
boundary (:func:`~ringctl.activities.boundary.translated`): a
:class:`~ringctl.core.errors.ConfigError` becomes a non-retryable ``ApplicationError``;
anything else is retried by Temporal's retry policy.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import CancelledError

from ringctl.activities.boundary import translated
from ringctl.activities.models import RollbackInput, WaitRolloutInput
from ringctl.providers.interfaces import DeployTarget
from ringctl.providers.models import DeployInput, RollbackResult, RolloutState, RolloutStatus, UndoRecord

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Seconds between heartbeats while a region activity runs. Workflows give deploy and
#: rollback a heartbeat timeout of a few of these (5 s): a lost worker is noticed that fast.
HEARTBEAT_EVERY = 1.0
#: Seconds between checks for cancellation while a provider call runs.
CANCEL_CHECK = 0.1


def _heartbeating(call: Callable[[], T], *details: object) -> T:
    """Run the blocking ``call`` in a helper thread, heartbeating ``details`` until it returns.

    Its result or exception is the caller's. If the activity is cancelled,
    stop waiting and raise ``CancelledError``; the call may still finish in
    the background (providers are idempotent, and the sandbox's delays stop).
    The helper sees the activity's context (``activity.is_cancelled()`` works there).
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            future.set_result(context.run(call))
        except BaseException as exc:  # handed over to the activity's thread
            future.set_exception(exc)

    name = f"{activity.info().activity_type}-{activity.info().activity_id}"
    threading.Thread(target=run, name=name, daemon=True).start()
    next_beat = time.monotonic()
    while True:
        if time.monotonic() >= next_beat:
            activity.heartbeat(*details)
            next_beat = time.monotonic() + HEARTBEAT_EVERY
        wait = min(CANCEL_CHECK, max(next_beat - time.monotonic(), 0.0))
        if concurrent.futures.wait([future], timeout=wait).done:
            return future.result()
        if activity.is_cancelled():
            raise CancelledError(f"{activity.info().activity_type} cancelled")


def _pause(seconds: float, *details: object) -> None:
    """Wait ``seconds`` (heartbeating ``details`` every :data:`HEARTBEAT_EVERY`); ``CancelledError`` if cancelled."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        activity.wait_for_cancelled_sync(timeout=min(left, HEARTBEAT_EVERY))
        if activity.is_cancelled():
            raise CancelledError(f"{activity.info().activity_type} cancelled")
        if end - time.monotonic() > 0:
            activity.heartbeat(*details)


class RegionActivities:
    """Region activities bound to a deploy target."""

    def __init__(self, target: DeployTarget, poll_interval: timedelta = timedelta(seconds=2)) -> None:
        self._target = target
        self._poll_interval = poll_interval.total_seconds()

    @activity.defn
    @translated
    def deploy(self, request: DeployInput) -> UndoRecord:
        """Set the service's image in one region; idempotent. Heartbeats while the provider works."""
        undo = _heartbeating(lambda: self._target.deploy(request), request.target.region)
        log.info(
            "deployed",
            image=request.image,
            previous_image=undo.previous_image,
            changed=undo.changed,
        )
        return undo

    @activity.defn
    @translated
    def wait_rollout(self, request: WaitRolloutInput) -> RolloutStatus:
        """Poll the rollout until it completes, fails or the deadline passes.

        Heartbeats every poll and every :data:`HEARTBEAT_EVERY` within and between
        polls; the first heartbeat detail is the deadline, kept by retries.
        """
        deadline = datetime.now(UTC) + request.timeout
        started = activity.info().heartbeat_details
        if started:  # a retry keeps the first attempt's deadline
            deadline = datetime.fromisoformat(str(started[0]))
        message = ""
        while True:
            status = _heartbeating(lambda: self._target.rollout_status(request.target), deadline.isoformat(), message)
            message = status.message
            activity.heartbeat(deadline.isoformat(), message)
            if status.state is not RolloutState.PROGRESSING:
                return status
            if datetime.now(UTC) >= deadline:
                return RolloutStatus(
                    state=RolloutState.FAILED,
                    message=f"rollout did not complete within {request.timeout}: {status.message}",
                )
            _pause(self._poll_interval, deadline.isoformat(), message)

    @activity.defn
    @translated
    def rollback(self, request: RollbackInput) -> RollbackResult:
        """Restore one region from its undo record; idempotent. Heartbeats while the provider works."""
        result = _heartbeating(lambda: self._target.rollback(request.undo), request.undo.target.region)
        log.info(
            "rolled back",
            image=result.image,
            changed=result.changed,
        )
        return result
