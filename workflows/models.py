"""Inputs, messages and the status model of the ``RingRelease`` workflow.

Every model is a pydantic model carried by ``temporalio.contrib.pydantic``;
new fields must have defaults so histories of running releases still decode.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ringctl.activities.models import GateResult
from ringctl.core.evidence import EvidenceState
from ringctl.core.plan import Plan
from ringctl.providers.models import UndoRecord


class Message(BaseModel):
    """Base of workflow messages."""

    model_config = ConfigDict(frozen=True)


class ReleaseState(StrEnum):
    """Where a release is. The last four end it."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_BUDGET_OVERRIDE = "awaiting_budget_override"
    AWAITING_WINDOW = "awaiting_window"
    DEPLOYING = "deploying"
    BAKING = "baking"
    HOLDING = "holding"
    PAUSED = "paused"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    ABORTING = "aborting"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Whether the release has ended."""
        return self in (ReleaseState.COMPLETED, ReleaseState.ROLLED_BACK, ReleaseState.ABORTED, ReleaseState.FAILED)

    @property
    def waits_for_a_person(self) -> bool:
        """Whether a person can move the release on now: an approval, a budget or window override."""
        return self in (
            ReleaseState.AWAITING_APPROVAL,
            ReleaseState.AWAITING_BUDGET_OVERRIDE,
            ReleaseState.AWAITING_WINDOW,
        )

    @property
    def can_roll_back(self) -> bool:
        """Whether an ended release in this state can still be rolled back (within its retention)."""
        return self in (ReleaseState.COMPLETED, ReleaseState.ABORTED, ReleaseState.FAILED)


class RingState(StrEnum):
    """Where one ring is."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_BUDGET_OVERRIDE = "awaiting_budget_override"
    AWAITING_WINDOW = "awaiting_window"
    DEPLOYING = "deploying"
    BAKING = "baking"
    HOLDING = "holding"
    PROMOTED = "promoted"
    FAILED = "failed"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class RegionState(StrEnum):
    """Where one region is."""

    PENDING = "pending"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    HEALTHY = "healthy"
    PROMOTED = "promoted"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class ReleaseInput(Message):
    """Start a release of ``service`` at ``version`` through ``plan``."""

    release_id: str
    service: str
    version: str
    image: str
    plan: Plan
    started_by: str
    speed: float = Field(default=1.0, description="the plan's waits were divided by this (release start --speed)")
    rollback_of: PastRelease | None = Field(
        default=None, description="set to roll back an ended release instead of releasing"
    )
    history_limit: int | None = Field(
        default=None, description="continue as a new run past this many history events (default: HISTORY_EVENTS)"
    )
    continued: Continued | None = Field(
        default=None, description="set when a run continues the release as new: where it picks up"
    )
    metadata: dict[str, str] = Field(
        default_factory=dict, description="what the pipeline knows of the build: commit, build_url, change"
    )


class Event(Message):
    """One entry of the release's audit log: who did what, when and why."""

    at: datetime
    actor: str
    action: str
    ring: str | None = None
    region: str | None = None
    detail: str = ""
    key_fingerprint: str | None = Field(default=None, description="the signing key's, for a signed command")


class Approval(Message):
    """An approval given to a ring."""

    approver: str
    comment: str = ""
    at: datetime
    key_fingerprint: str | None = Field(default=None, description="the approver's signing key, when signed")


class Override(Message):
    """A person's recorded decision to deploy a ring despite an exhausted error budget or a closed window."""

    by: str
    reason: str
    at: datetime
    key_fingerprint: str | None = Field(default=None, description="the signing key's, when signed")


class RegionStatus(BaseModel):
    """A region's state within its ring."""

    name: str
    state: RegionState = RegionState.PENDING
    since: datetime | None = None
    message: str = ""
    image: str | None = None


class RingStatus(BaseModel):
    """A ring's state, its regions and its latest gate results."""

    name: str
    state: RingState = RingState.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    approval_required: bool = False
    approvals: list[Approval] = Field(default_factory=list)
    regions: list[RegionStatus]
    gate_results: list[GateResult] = Field(
        default_factory=list, description="the latest result of each gate in each region, newest last"
    )
    evaluations: int = Field(default=0, description="gate evaluations in this ring so far")
    message: str = ""
    budget_override: Override | None = None
    window_override: Override | None = None
    waiting_until: datetime | None = Field(default=None, description="when the ring's deployment window opens")
    next_check_at: datetime | None = Field(default=None, description="when the baking ring's gates are next checked")
    bake_remaining: timedelta | None = Field(
        default=None, description="bake time still to count (paused or holding time does not), as of the last check"
    )
    healthy_needed: int = Field(default=0, description="passing checks in a row the bake still needs to end")
    evidence: dict[str, EvidenceState] = Field(
        default_factory=dict, description="each comparison gate's sequential test so far, by gate name"
    )
    evidence_deadline: datetime | None = Field(
        default=None, description="when the ring halts for a person if its comparison gates still have no verdict"
    )
    evidence_since: datetime | None = Field(
        default=None, description="since when comparison gates count: the ring's start, or a retried bake's"
    )
    evidence_verdicts: dict[str, str] = Field(
        default_factory=dict, description="each comparison gate's last verdict recorded (pass, fail, insufficient)"
    )


class ReleaseStatus(BaseModel):
    """Everything ``ringctl status`` shows; the ``status`` query returns it."""

    release_id: str
    service: str
    version: str
    image: str
    state: ReleaseState = Field(
        description="where the release is; the status query and search attributes show paused while it is paused"
    )
    paused: bool = False
    current_ring: str | None = None
    reason: str = ""
    started_by: str
    started_at: datetime
    updated_at: datetime
    rings: list[RingStatus]
    events: list[Event] = Field(default_factory=list)
    undo_records: list[UndoRecord] = Field(default_factory=list)
    rollback_until: datetime | None = Field(default=None, description="a completed release can be rolled back until")
    metadata: dict[str, str] = Field(default_factory=dict, description="release start's commit, build_url, change")


class PastRelease(Message):
    """An ended release to roll back: its final status, and who asks and why."""

    status: ReleaseStatus
    by: str
    reason: str


class Phase(StrEnum):
    """The loop of a ring a continued run picks up.

    ``watch`` is the post-release watch (``ring`` is then past the last stage); a
    worker from before it cannot decode it, so its workflow task fails and is
    retried until a worker of this version takes it.
    """

    BUDGET = "budget"
    BAKE = "bake"
    WATCH = "watch"


class Continued(Message):
    """What a run hands to the next when the release continues as new: its status and where it stands.

    ``remaining``, ``streak`` and ``holding`` are the bake's (``phase`` ``bake``); a run
    continued during the error-budget check (``phase`` ``budget``) checks it again;
    ``remaining`` and ``holding`` are also the post-release watch's (``phase`` ``watch``).
    """

    status: ReleaseStatus
    ring: int
    phase: Phase
    remaining: timedelta = timedelta(0)
    streak: int = 0
    holding: bool = False
    runs: int = Field(default=1, description="runs of this release before this one")


class Command(Message):
    """Base of every human command: who acts and, optionally, which release they mean."""

    by: str
    release_id: str | None = Field(default=None, description="refuse the command unless this is the release")
    deadline: datetime | None = Field(
        default=None, description="refuse the command if no worker took it by then (the CLI gave up: not applied)"
    )


class RingCommand(Command):
    """Base of commands about one ring, given by its approvers; signed where the plan requires it."""

    ring: str
    signed_at: datetime | None = Field(default=None, description="when the approver signed (signed approvals)")
    signature: str | None = Field(default=None, description="Ed25519 signature of the approval claim, base64")

    @property
    def claim_action(self) -> str:
        """The ``action`` its signed claim names (:class:`~ringctl.core.signing.ApprovalClaim`)."""
        return "approve"


class ApproveRequest(RingCommand):
    """Approve promotion into ``ring``.

    ``override_budget`` / ``override_window`` are the shape older clients sent for an
    override (and recorded histories hold): still accepted, and handled as an
    :class:`OverrideRequest` of that kind. New clients send ``override``.
    """

    comment: str = ""
    override_budget: bool = Field(default=False, description="deprecated: an override of kind budget")
    override_window: bool = Field(default=False, description="deprecated: an override of kind window")
    reason: str = Field(default="", description="why (deprecated override flags only)")

    @property
    def is_override(self) -> bool:
        """Whether this is an override in the old shape (flags on ``approve``)."""
        return self.override_budget or self.override_window


class OverrideKind(StrEnum):
    """What an override lets a ring deploy despite."""

    BUDGET = "budget"
    WINDOW = "window"


class OverrideRequest(RingCommand):
    """Deploy ``ring`` despite its exhausted error budget or closed deployment window, for a recorded reason."""

    kind: OverrideKind
    reason: str = Field(default="", description="why (required: a blank reason is refused)")

    @property
    def claim_action(self) -> str:
        """``override_budget`` or ``override_window``: an approval's signature never passes for an override."""
        return f"override_{self.kind}"

    @classmethod
    def of(cls, request: ApproveRequest) -> OverrideRequest:
        """The override an old-shape ``approve`` (with one override flag) asks for."""
        kind = OverrideKind.BUDGET if request.override_budget else OverrideKind.WINDOW
        return cls(
            by=request.by,
            release_id=request.release_id,
            deadline=request.deadline,
            ring=request.ring,
            signed_at=request.signed_at,
            signature=request.signature,
            kind=kind,
            reason=request.reason,
        )


class RollbackRequest(Command):
    """Roll back every region this release changed."""

    reason: str


class PauseRequest(Command):
    """Stop advancing until resumed (gates keep being evaluated)."""

    reason: str = ""


class ResumeRequest(Command):
    """Resume after a pause, or retry the ring after a halt."""

    reason: str = ""


class AbortRequest(Command):
    """End the release where it is, without rolling back."""

    reason: str


class CommandResult(Message):
    """What an accepted command did."""

    release_id: str
    state: ReleaseState
    message: str
