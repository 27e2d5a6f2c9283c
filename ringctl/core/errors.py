"""ringctl's exceptions, one root for everything the CLI reports without a traceback.

RingctlError
 ├── PlanError          rings.yaml cannot be read or is invalid
 ├── ReleaseError       a release command was refused (unknown release, conflict, rejected update)
 ├── UnavailableError   Temporal or a worker did not take a command in time; nothing was applied, retry
 ├── SigningError       a signed approval cannot be made or does not verify
 └── ProviderError      a deploy target, metrics source or notification webhook failed
      ├── ConfigError   bad provider input: unknown context, missing object (never retried)
      │    └── WebhookRejected     a webhook answered 4xx (not 408/429): URL or payload is wrong
      └── TransientError  may succeed on retry (conflict, 5xx, timeout)
           ├── WebhookFailed       a webhook answered 5xx, 408, 429 or 3xx
           └── WebhookUnreachable  a webhook timed out or could not be reached

Code that talks to a library (Kubernetes, httpx, Prometheus) translates that
library's errors into these. Activities never build an ``ApplicationError``:
:func:`to_application_error` is the one mapping to Temporal's failures, applied
at the activity boundary (:func:`ringctl.activities.boundary.translated`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from temporalio.exceptions import ApplicationError


class RingctlError(Exception):
    """Root of ringctl's errors."""

    #: Whether Temporal must not retry an activity that raised this (see :func:`to_application_error`).
    non_retryable: ClassVar[bool] = False


class PlanError(RingctlError):
    """The plan file cannot be read or is invalid; ``problems`` lists one line per error."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class ReleaseError(RingctlError):
    """A release command was refused."""


class UnavailableError(RingctlError):
    """Temporal or a worker could not take a command in time: it was not applied and never will be; retry."""


class SigningError(RingctlError):
    """A signed approval cannot be made (bad key file) or does not verify (unsigned, forged, stale)."""


class ProviderError(RingctlError):
    """A provider call failed.

    ``details`` travel with the failure (an ``ApplicationError``'s details, e.g. an HTTP
    status and body); ``next_retry_delay`` overrides the retry policy's next interval.
    """

    def __init__(self, message: str, *details: object, next_retry_delay: timedelta | None = None) -> None:
        super().__init__(message)
        self.details = details
        self.next_retry_delay = next_retry_delay


class ConfigError(ProviderError):
    """A provider was given input it can never act on; retrying will not help."""

    non_retryable = True


class TransientError(ProviderError):
    """A provider call failed in a way that may succeed on retry."""


class WebhookRejected(ConfigError):
    """A notification webhook refused the POST with a 4xx (not 408/429); details: status, body excerpt."""


class WebhookUnresolved(ConfigError):
    """A webhook given by reference (``url_env``, ``url_file``) has no usable URL on this worker."""


class WebhookFailed(TransientError):
    """A notification webhook answered 5xx, 408, 429 or 3xx; details: status, body excerpt."""


class WebhookUnreachable(TransientError):
    """A notification webhook could not be reached, or did not answer in time."""


def to_application_error(error: BaseException) -> ApplicationError:
    """The one mapping of an error to the ``ApplicationError`` Temporal records for an activity.

    A ringctl error keeps its class name as the failure's type, its message, its
    ``details`` and ``next_retry_delay``; it is non-retryable when its class says so
    (:class:`ConfigError` and below). An ``ApplicationError`` is returned as it is;
    anything else maps as Temporal itself would map it: its class name, its message,
    retryable.
    """
    from temporalio.exceptions import ApplicationError  # the CLI imports this module; Temporal only when mapping

    if isinstance(error, ApplicationError):
        return error
    details: tuple[object, ...] = ()
    next_retry_delay = None
    if isinstance(error, ProviderError):
        details, next_retry_delay = error.details, error.next_retry_delay
    return ApplicationError(
        str(error),
        *details,
        type=type(error).__name__,
        non_retryable=isinstance(error, RingctlError) and error.non_retryable,
        next_retry_delay=next_retry_delay,
    )


def root_cause(error: BaseException) -> str:
    """The message of the innermost ``__cause__`` of ``error`` (Temporal wraps the real failure in layers)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return getattr(error, "message", None) or str(error)
