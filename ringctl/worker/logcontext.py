"""Every log line an activity writes names its release: bound once, by a worker interceptor, not by hand.

The interceptor binds (structlog context variables, which the SDK carries into the
threads of sync activities) the activity's type, attempt and workflow id, and what
its input says of the release: ``release_id``, ``service``, ``version``, ``ring``
and the ``region`` of its target or undo record.
"""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

_RELEASE_FIELDS = ("release_id", "service", "version", "ring")


class LogContextInterceptor(Interceptor):
    """Binds the release's ids to the log context of every activity the worker runs."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:  # noqa: A002
        return _BindingInbound(next)


class _BindingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:  # noqa: A002
        info = activity.info()
        fields: dict[str, Any] = {"activity": info.activity_type, "attempt": info.attempt}
        for argument in input.args:
            fields |= release_fields(argument)
        fields.setdefault("workflow_id", info.workflow_id)
        with structlog.contextvars.bound_contextvars(**fields):
            return await super().execute_activity(input)


def release_fields(argument: object) -> dict[str, str]:
    """What an activity input says of its release (fields missing from it are left out)."""
    fields = {name: value for name in _RELEASE_FIELDS if isinstance(value := getattr(argument, name, None), str)}
    undo = getattr(argument, "undo", None)
    if undo is not None:
        fields |= release_fields(undo)
    target = getattr(argument, "target", None)
    region = getattr(target, "region", None)
    if isinstance(region, str):
        fields["region"] = region
    return fields
