"""The one place where Temporal's client errors become ringctl's CLI-facing errors.

An RPC error is either "no such release" (``NOT_FOUND`` while looking one up),
"Temporal did not answer" (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``: nothing was done,
retry - an :class:`~ringctl.core.errors.UnavailableError`) or "Temporal refused" (a
:class:`~ringctl.core.errors.ReleaseError`). A call that changes something
(``write=True``: start a release, send a command) never reports
:class:`UnavailableError`, which promises that nothing was applied: if Temporal did not
answer, whether the write took effect is unknown, so it is a refusal with Temporal's message.
"""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ringctl.core.constants import COMMAND_EXPIRED
from ringctl.core.errors import ReleaseError, RingctlError, UnavailableError, root_cause

#: RPC status codes meaning Temporal did not answer.
NO_ANSWER = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


def from_rpc_error(exc: RPCError, release: str, *, doing: str | None = None, write: bool = False) -> RingctlError:
    """``exc``, raised by a call about ``release``, as a ringctl error; ``doing`` replaces ``release`` as the prefix.

    - ``NOT_FOUND`` on a read: :class:`ReleaseError` ``no release found for 'release'``;
    - ``UNAVAILABLE`` or ``DEADLINE_EXCEEDED`` on a read: :class:`UnavailableError`
      ``<prefix>: Temporal did not answer: <message>``;
    - anything else: :class:`ReleaseError` ``<prefix>: <message>``.
    """
    prefix = doing or release
    if not write and exc.status is RPCStatusCode.NOT_FOUND:
        return ReleaseError(f"no release found for {release!r}")
    if not write and exc.status in NO_ANSWER:
        return UnavailableError(f"{prefix}: Temporal did not answer: {exc.message}")
    return ReleaseError(f"{prefix}: {exc.message}")


def from_call_error(exc: BaseException) -> RingctlError | None:
    """An RPC error no command mapped (a listing, a connection) as a ringctl error; ``None`` for anything else."""
    if not isinstance(exc, RPCError):
        return None
    if exc.status in NO_ANSWER:
        return UnavailableError(f"Temporal did not answer: {exc.message}")
    return ReleaseError(f"Temporal refused the call: {exc.message}")


def from_update_failed(exc: WorkflowUpdateFailedError, release: str) -> RingctlError:
    """A command (Update) the workflow refused: expired (never applied, retry) or refused with its reason."""
    if isinstance(exc.cause, ApplicationError) and exc.cause.type == COMMAND_EXPIRED:
        return UnavailableError(f"{release}: not applied: {exc.cause.message}; retry")
    return ReleaseError(f"{release}: refused: {root_cause(exc)}")
