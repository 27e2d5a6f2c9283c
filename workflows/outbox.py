"""The release's notification outbox: one ordered queue per webhook, delivered by the ``notify`` activity.

A notification never blocks the release: :meth:`Outbox.notify` queues it and
returns. Each webhook with queued messages has one delivery task that sends
them in order; a webhook that keeps failing gets a single try per later message
until one succeeds. Deterministic: only ``workflow.*`` APIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.notify import NotifyActivities, NotifyInput
    from ringctl.core.errors import root_cause
    from ringctl.core.notifications import NotificationEvent, Webhook, notifications_for
    from ringctl.workflows.models import ReleaseInput
    from ringctl.workflows.timeouts import NOTIFY_FLUSH, NOTIFY_RETRY, NOTIFY_RETRY_DOWN, NOTIFY_TIMEOUT


def webhook_name(webhook: Webhook, index: int) -> str:
    """How logs name a webhook: its name, or its place in the plan."""
    return webhook.name or f"webhook #{index}"


class Outbox:
    """Notifications of one release waiting to be sent, one queue per webhook (by its index in the plan)."""

    def __init__(self, request: ReleaseInput) -> None:
        self._request = request
        self._queues: dict[int, list[NotifyInput]] = {}
        #: Webhooks whose last delivery failed: one try per message until one succeeds.
        self._down: set[int] = set()
        #: The running delivery task of each webhook with queued notifications.
        self._deliveries: dict[int, asyncio.Task[None]] = {}

    def notify(self, event: NotificationEvent, text: str, ring: str | None = None) -> None:
        """Queue a notification for every webhook subscribed to ``event``; never blocks the release."""
        request = self._request
        config = request.plan.notifications
        subscribed = notifications_for(config, event)
        for index, webhook in enumerate(config.webhooks):
            if webhook not in subscribed:
                continue
            self._queues.setdefault(index, []).append(
                NotifyInput(
                    webhook=webhook,
                    event=event,
                    release_id=request.release_id,
                    service=request.service,
                    version=request.version,
                    ring=ring,
                    text=text,
                    at=workflow.now(),
                    actor=None,
                    metadata=self._request.metadata,
                )
            )
            if index not in self._deliveries:
                self._deliveries[index] = asyncio.create_task(self._deliver(index))

    @property
    def idle(self) -> bool:
        """Whether no notification is queued or being sent."""
        return not self._deliveries

    async def flush(self, stop: Callable[[], bool]) -> None:
        """Give queued notifications :data:`NOTIFY_FLUSH` to go out before the workflow closes, or until ``stop()``."""
        if self._deliveries:
            try:
                await workflow.wait_condition(lambda: not self._deliveries or stop(), timeout=NOTIFY_FLUSH)
            except TimeoutError:
                workflow.logger.warning("closing with %d webhook queues not delivered", len(self._deliveries))

    async def _deliver(self, index: int) -> None:
        """Send one webhook's queued notifications in order; a failure is logged, never raised."""
        queue = self._queues[index]
        while queue:
            request = queue.pop(0)
            try:
                await workflow.execute_activity_method(
                    NotifyActivities.notify,
                    request,
                    start_to_close_timeout=NOTIFY_TIMEOUT,
                    retry_policy=NOTIFY_RETRY_DOWN if index in self._down else NOTIFY_RETRY,
                )
                self._down.discard(index)
            except ActivityError as error:
                self._down.add(index)
                workflow.logger.warning(
                    "notification %s to %s failed: %s",
                    request.event,
                    webhook_name(request.webhook, index),
                    root_cause(error),
                )
        del self._deliveries[index]
