"""Region activities: deploy, wait for the rollout, roll back, through a :class:`DeployTarget`.

They are blocking (the Kubernetes client is synchronous) and run on the
worker's thread pool. Provider errors are translated here: a
:class:`~ringctl.errors.ConfigError` becomes a non-retryable ``ApplicationError``;
anything else is retried by Temporal's retry policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.models import (
    DeployInput,
    RollbackInput,
    RollbackResult,
    RolloutState,
    RolloutStatus,
    UndoRecord,
    WaitRolloutInput,
)
from activities.providers import DeployTarget
from ringctl.errors import ConfigError

log = structlog.get_logger(__name__)


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from exc


class RegionActivities:
    """Region activities bound to a deploy target."""

    def __init__(self, target: DeployTarget, poll_interval: timedelta = timedelta(seconds=2)) -> None:
        self._target = target
        self._poll_interval = poll_interval.total_seconds()

    @activity.defn
    def deploy(self, request: DeployInput) -> UndoRecord:
        """Set the service's image in one region; idempotent."""
        with _translated_errors():
            undo = self._target.deploy(request)
        log.info(
            "deployed",
            release_id=request.release_id,
            region=request.target.region,
            image=request.image,
            previous_image=undo.previous_image,
            changed=undo.changed,
        )
        return undo

    @activity.defn
    def wait_rollout(self, request: WaitRolloutInput) -> RolloutStatus:
        """Poll the rollout until it completes, fails or the deadline passes; heartbeats every poll."""
        deadline = datetime.now(UTC) + request.timeout
        started = activity.info().heartbeat_details
        if started:  # a retry keeps the first attempt's deadline
            deadline = datetime.fromisoformat(str(started[0]))
        while True:
            with _translated_errors():
                status = self._target.rollout_status(request.target)
            activity.heartbeat(deadline.isoformat(), status.message)
            if status.state is not RolloutState.PROGRESSING:
                return status
            if datetime.now(UTC) >= deadline:
                return RolloutStatus(
                    state=RolloutState.FAILED,
                    message=f"rollout did not complete within {request.timeout}: {status.message}",
                )
            activity.wait_for_cancelled_sync(timeout=self._poll_interval)
            if activity.is_cancelled():
                raise CancelledError("wait_rollout cancelled")

    @activity.defn
    def rollback(self, request: RollbackInput) -> RollbackResult:
        """Restore one region from its undo record; idempotent."""
        with _translated_errors():
            result = self._target.rollback(request.undo)
        log.info(
            "rolled back",
            release_id=request.undo.release_id,
            region=result.region,
            image=result.image,
            changed=result.changed,
        )
        return result
