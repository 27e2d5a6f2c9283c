"""Whether a person's command may apply now: the validators of ``RingRelease``'s updates, as pure functions.

Each ``check_*`` takes the command and the :class:`Situation` it arrives in and
returns nothing, or raises a non-retryable ``ApplicationError`` of type
:data:`~ringctl.core.constants.COMMAND_REJECTED` (refused for what it asks) or
:data:`~ringctl.core.constants.COMMAND_EXPIRED` (no worker took it before its
deadline: the CLI said "not applied", so it never applies). A refused command
writes nothing to the history. No clock, no I/O: ``now`` is part of the
situation, so the rules are unit-tested without a Temporal server
(``tests/workflows/test_commands.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio.exceptions import ApplicationError

from ringctl.core.constants import COMMAND_EXPIRED, COMMAND_REJECTED
from ringctl.core.errors import SigningError
from ringctl.core.plan import Ring
from ringctl.core.signing import ApprovalClaim
from ringctl.workflows.models import (
    AbortRequest,
    ApproveRequest,
    Command,
    OverrideKind,
    OverrideRequest,
    PauseRequest,
    ReleaseInput,
    ReleaseState,
    ResumeRequest,
    RingCommand,
    RingState,
    RingStatus,
    RollbackRequest,
)

__all__ = [
    "Situation",
    "check_abort",
    "check_approve",
    "check_command",
    "check_override",
    "check_pause",
    "check_resume",
    "check_rollback",
    "check_signature",
    "rejected",
]


@dataclass(frozen=True)
class Situation:
    """The release as a command finds it."""

    #: The release's input: its id, service, version, starter and plan.
    request: ReleaseInput
    #: Where the release is (its progress state: never ``paused``).
    state: ReleaseState
    paused: bool
    #: Whether a rollback or abort has been accepted.
    interrupted: bool
    rollback_requested: bool
    rings: Sequence[RingStatus]
    #: Rings whose error-budget or alarm check waits (exhausted, firing, unknown): a budget override releases them.
    budget_waiting: frozenset[str]
    now: datetime

    @property
    def release_id(self) -> str:
        return self.request.release_id


def rejected(message: str, kind: str = COMMAND_REJECTED) -> ApplicationError:
    """The failure a refused command gets: non-retryable, typed ``kind``."""
    return ApplicationError(message, type=kind, non_retryable=True)


def check_command(command: Command, release: Situation, *, ended_ok: bool = False) -> None:
    """Refuse a command for another release, one past its deadline, or (unless ``ended_ok``) an ended release."""
    if command.release_id is not None and command.release_id != release.release_id:
        raise rejected(
            f"release {command.release_id} is not running; the current release of "
            f"{release.request.service} is {release.release_id}"
        )
    if command.deadline is not None and release.now > command.deadline:
        raise rejected(
            f"this command expired at {command.deadline:%H:%M:%S} UTC before a worker took it; it was not applied",
            COMMAND_EXPIRED,
        )
    if release.state.is_final and not (ended_ok and release.state.can_roll_back):
        raise rejected(f"release {release.release_id} has ended ({release.state})")


def check_approve(request: ApproveRequest, release: Situation) -> None:
    """An approval by one of the ring's approvers (not the starter, unless allowed), once each, while it waits.

    An approval in the old shape with an override flag is judged as that :class:`OverrideRequest`.
    """
    ring = _check_ring_command(request, release)
    if request.override_budget and request.override_window:
        raise rejected("override the error budget and the window in two separate commands")
    if request.is_override:
        _check_override_applies(OverrideRequest.of(request), ring, release)
        return
    if ring.state is not RingState.AWAITING_APPROVAL:
        raise rejected(f"ring {request.ring!r} is not waiting for approval (it is {ring.state})")
    if any(a.approver == request.by for a in ring.approvals):
        raise rejected(f"{request.by!r} has already approved ring {request.ring!r}")


def check_override(request: OverrideRequest, release: Situation) -> None:
    """An override by one of the ring's approvers, with a reason, of what the ring is waiting for."""
    ring = _check_ring_command(request, release)
    _check_override_applies(request, ring, release)


def check_rollback(request: RollbackRequest, release: Situation) -> None:
    """Accepted in any state, also after the release ended (within its retention), once."""
    check_command(request, release, ended_ok=True)
    if release.rollback_requested or release.state in (ReleaseState.ROLLING_BACK, ReleaseState.ROLLED_BACK):
        raise rejected(f"release {release.release_id} is already {release.state}")


def check_pause(request: PauseRequest, release: Situation) -> None:
    check_command(request, release)
    _check_not_interrupted(release)
    if release.paused:
        raise rejected(f"release {release.release_id} is already paused")


def check_resume(request: ResumeRequest, release: Situation) -> None:
    """Resume a paused release, or retry a halted ring."""
    check_command(request, release)
    _check_not_interrupted(release)
    if not release.paused and release.state is not ReleaseState.HALTED:
        raise rejected(f"release {release.release_id} is {release.state}: neither paused nor halted")


def check_abort(request: AbortRequest, release: Situation) -> None:
    check_command(request, release)
    _check_not_interrupted(release)
    if release.state is ReleaseState.ROLLING_BACK:
        raise rejected(f"release {release.release_id} is already {release.state}")


def check_signature(request: RingCommand, release: Situation) -> None:
    """With ``approvals.signing: required``, the command must carry a valid Ed25519 signature of its claim."""
    signing = release.request.plan.approvals
    if signing.signing != "required":
        return
    if request.signed_at is None or request.signature is None:
        raise rejected(
            f"approval by {request.by!r} is not signed; this plan requires signed approvals (ringctl approve --key ...)"
        )
    claim = ApprovalClaim(
        release_id=release.release_id,
        ring=request.ring,
        version=release.request.version,
        approver=request.by,
        signed_at=request.signed_at,
        action=request.claim_action,
    )
    try:
        signing.verify(claim, request.signature, now=release.now)
    except SigningError as error:
        raise rejected(str(error)) from None


def _check_not_interrupted(release: Situation) -> None:
    if release.interrupted:
        raise rejected(f"release {release.release_id} is {release.state}")


def _check_ring_command(request: RingCommand, release: Situation) -> RingStatus:
    """Checks every command about a ring shares: a running release, a known ring, an allowed approver, signed.

    Returns the ring's status.
    """
    check_command(request, release)
    _check_not_interrupted(release)
    spec = _ring_spec(request.ring, release)
    plan = release.request.plan
    approvers = plan.approvers_for(spec)
    if approvers and request.by not in approvers:
        raise rejected(f"{request.by!r} may not approve ring {request.ring!r}; approvers: {', '.join(approvers)}")
    if request.by == release.request.started_by and not spec.approval.allow_self_approval:
        raise rejected(
            f"{request.by!r} started release {release.release_id} and may not approve it (separation of duties)"
        )
    check_signature(request, release)
    return next(ring for ring in release.rings if ring.name == request.ring)


def _ring_spec(name: str, release: Situation) -> Ring:
    stages = release.request.plan.stages
    names = [ring.name for ring in stages]
    if name not in names:
        raise rejected(f"unknown ring {name!r}; the rings are {', '.join(names)}")
    return stages[names.index(name)]


def _check_override_applies(request: OverrideRequest, ring: RingStatus, release: Situation) -> None:
    """The ring waits for what the override lifts, and the override says why."""
    if request.kind is OverrideKind.WINDOW:
        if ring.state is not RingState.AWAITING_WINDOW:
            raise rejected(f"ring {request.ring!r} is not waiting for its deployment window (it is {ring.state})")
        if not request.reason.strip():
            raise rejected("a window override needs a reason (--reason)")
        return
    if request.ring not in release.budget_waiting:
        raise rejected(f"ring {request.ring!r} is not waiting for an error-budget override (it is {ring.state})")
    if not request.reason.strip():
        raise rejected("an error-budget override needs a reason (--reason)")
