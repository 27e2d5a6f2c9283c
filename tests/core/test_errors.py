"""``to_application_error``: each of ringctl's errors as the failure Temporal records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from ringctl.core.errors import (
    ConfigError,
    PlanError,
    ProviderError,
    ReleaseError,
    RingctlError,
    SigningError,
    TransientError,
    UnavailableError,
    WebhookFailed,
    WebhookRejected,
    WebhookUnreachable,
    to_application_error,
)


@pytest.mark.parametrize(
    ("error", "kind", "non_retryable"),
    [
        (ConfigError("region r1: unknown kube context 'x'"), "ConfigError", True),
        (WebhookRejected("webhook answered HTTP 404: no_service", 404, "no_service"), "WebhookRejected", True),
        (TransientError("region r1: API server unreachable"), "TransientError", False),
        (WebhookFailed("webhook answered HTTP 500: down", 500, "down"), "WebhookFailed", False),
        (WebhookUnreachable("webhook unreachable: ConnectError"), "WebhookUnreachable", False),
        (ProviderError("provider failed"), "ProviderError", False),
        (ReleaseError("refused"), "ReleaseError", False),
        (UnavailableError("no answer"), "UnavailableError", False),
        (SigningError("forged"), "SigningError", False),
        (RingctlError("plain"), "RingctlError", False),
        (PlanError("rings.yaml", ["no rings"]), "PlanError", False),
    ],
)
def test_each_ringctl_error_keeps_its_type_message_and_retryability(
    error: RingctlError, kind: str, non_retryable: bool
) -> None:
    failure = to_application_error(error)
    assert isinstance(failure, ApplicationError)
    assert failure.type == kind
    assert failure.non_retryable is non_retryable
    assert failure.message == str(error)
    assert failure.next_retry_delay is None


def test_details_and_next_retry_delay_travel_with_the_failure() -> None:
    failure = to_application_error(
        WebhookFailed("HTTP 429: slow down", 429, "slow down", next_retry_delay=timedelta(seconds=7))
    )
    assert failure.details == (429, "slow down")
    assert failure.next_retry_delay == timedelta(seconds=7)
    assert to_application_error(WebhookRejected("HTTP 400: bad", 400, "bad")).details == (400, "bad")
    assert to_application_error(ConfigError("no context")).details == ()


def test_an_application_error_is_kept_and_anything_else_maps_as_temporal_would() -> None:
    own = ApplicationError("as built", type="Custom", non_retryable=True)
    assert to_application_error(own) is own
    failure = to_application_error(RuntimeError("boom"))
    assert (failure.type, failure.message, failure.non_retryable) == ("RuntimeError", "boom", False)
