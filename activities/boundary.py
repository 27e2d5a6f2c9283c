"""The activity boundary: where ringctl's errors become Temporal's failures.

Every activity is decorated with :func:`translated` (below ``@activity.defn``): a
:class:`~ringctl.core.errors.RingctlError` it raises leaves it as the
``ApplicationError`` that :func:`~ringctl.core.errors.to_application_error` maps it
to - non-retryable for a :class:`~ringctl.core.errors.ConfigError`, retryable for a
:class:`~ringctl.core.errors.TransientError`. Anything else (a bug, a cancellation)
passes through untouched for Temporal to handle. No activity builds an
``ApplicationError`` itself. Each failed attempt is counted in the worker's metrics.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from temporalio import activity
from temporalio.exceptions import CancelledError

from ringctl.core.errors import RingctlError, to_application_error

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _translating() -> Iterator[None]:
    try:
        yield
    except RingctlError as exc:
        _count_failure(exc)
        # Raised in the ringctl error's place (its traceback, its cause), not chained to
        # it: the failure Temporal records and logs carries each message once.
        raise to_application_error(exc).with_traceback(exc.__traceback__) from exc.__cause__
    except CancelledError:
        raise  # asked to stop: not a failure
    except Exception as exc:
        _count_failure(exc)
        raise


def _count_failure(exc: BaseException) -> None:
    """``ringctl_activity_failures_total{activity, error}``: one failed attempt (the worker's metrics)."""
    if not activity.in_activity():
        return  # called directly (tests), not by a worker
    info = activity.info()
    activity.metric_meter().create_counter(
        "ringctl_activity_failures", "activity attempts that failed, by activity and error type"
    ).add(1, {"activity": info.activity_type, "error": type(exc).__name__})


def translated(fn: F) -> F:
    """``fn`` (an activity, sync or async) with its ringctl errors raised as ``ApplicationError`` s."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with _translating():
                return await fn(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _translating():
            return fn(*args, **kwargs)

    return cast(F, run)
