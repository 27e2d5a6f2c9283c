"""ringctl's exceptions, one root for everything the CLI reports without a traceback.

RingctlError
 ├── PlanError          rings.yaml cannot be read or is invalid
 ├── ReleaseError       a release command was refused (unknown release, conflict, rejected update)
 ├── UnavailableError   Temporal or a worker did not take a command in time; nothing was applied, retry
 ├── SigningError       a signed approval cannot be made or does not verify
 └── ProviderError      a deploy target or metrics source failed
      ├── ConfigError   bad provider input: unknown context, missing object (never retried)
      └── TransientError  may succeed on retry (conflict, 5xx, timeout)
"""

from __future__ import annotations


class RingctlError(Exception):
    """Root of ringctl's errors."""


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
    """A provider call failed."""


class ConfigError(ProviderError):
    """A provider was given input it can never act on; retrying will not help."""


class TransientError(ProviderError):
    """A provider call failed in a way that may succeed on retry."""


def root_cause(error: BaseException) -> str:
    """The message of the innermost ``__cause__`` of ``error`` (Temporal wraps the real failure in layers)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return getattr(error, "message", None) or str(error)
