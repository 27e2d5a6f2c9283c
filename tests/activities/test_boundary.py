"""The activity boundary raises Temporal's failure in place of ringctl's error, once."""

from __future__ import annotations

import asyncio
import traceback

import pytest
from temporalio.exceptions import ApplicationError

from ringctl.activities.boundary import translated
from ringctl.core.errors import ConfigError, TransientError


class Unreachable(OSError):
    """Stands in for a library's connection error."""


# Not spelled on the raising lines, which a traceback quotes.
UNREACHABLE = "API server unreachable"
REFUSED = "connection refused"


@translated
def sync_call() -> None:
    try:
        raise Unreachable(REFUSED)
    except Unreachable as exc:
        raise TransientError(UNREACHABLE) from exc


@translated
async def async_call() -> None:
    raise ConfigError("unknown context", "prod-x")


def test_the_failure_keeps_the_library_cause_and_logs_each_message_once() -> None:
    with pytest.raises(ApplicationError) as caught:
        sync_call()
    error = caught.value
    assert (error.type, error.non_retryable) == ("TransientError", False)
    assert isinstance(error.__cause__, Unreachable)
    printed = "".join(traceback.format_exception(error))
    assert printed.count(UNREACHABLE) == 1
    assert printed.count(REFUSED) == 1
    assert "sync_call" in printed


def test_an_async_activity_s_config_error_is_not_retried_and_keeps_its_details() -> None:
    with pytest.raises(ApplicationError) as caught:
        asyncio.run(async_call())
    assert (caught.value.type, caught.value.non_retryable, caught.value.details) == ("ConfigError", True, ("prod-x",))
