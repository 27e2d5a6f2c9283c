"""The validators of RingRelease's commands, as pure functions: no Temporal server, ``now`` passed in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from ringctl.core.constants import COMMAND_EXPIRED, COMMAND_REJECTED
from ringctl.core.signing import ApprovalClaim, generate_keypair, sign_claim
from ringctl.workflows.commands import (
    Situation,
    check_abort,
    check_approve,
    check_command,
    check_override,
    check_pause,
    check_resume,
    check_rollback,
)
from ringctl.workflows.models import (
    AbortRequest,
    Approval,
    ApproveRequest,
    OverrideKind,
    OverrideRequest,
    PauseRequest,
    ReleaseInput,
    ReleaseState,
    ResumeRequest,
    RingState,
    RingStatus,
    RollbackRequest,
)
from tests.support.plans import SERVICE, make_plan

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
RELEASE = "checkout@2.0.0"
STARTER = "ci-pipeline"


def situation(
    state: ReleaseState = ReleaseState.AWAITING_APPROVAL,
    waiting: dict[str, RingState] | None = None,
    **changes: Any,
) -> Situation:
    """The release ``checkout@2.0.0`` of :func:`make_plan` in ``state``; ``waiting``: ring states by name."""
    plan = changes.pop("plan", None) or make_plan()
    request = ReleaseInput(
        release_id=RELEASE,
        service=SERVICE,
        version="2.0.0",
        image="registry.example.com/checkout:2.0.0",
        plan=plan,
        started_by=STARTER,
    )
    states = waiting or {"japan": RingState.AWAITING_APPROVAL}
    rings = [
        RingStatus(name=ring.name, state=states.get(ring.name, RingState.PROMOTED), regions=[]) for ring in plan.stages
    ]
    base = Situation(
        request=request,
        state=state,
        paused=False,
        interrupted=False,
        rollback_requested=False,
        rings=rings,
        budget_waiting=frozenset(),
        now=NOW,
    )
    return dataclasses.replace(base, **changes)


def refused(check: Any, request: Any, at: Situation) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        check(request, at)
    assert caught.value.non_retryable
    return caught.value


def rejection(check: Any, request: Any, at: Situation) -> str:
    error = refused(check, request, at)
    assert error.type == COMMAND_REJECTED
    return error.message


# -- every command ---------------------------------------------------------------------


def test_a_command_for_another_release_is_refused() -> None:
    message = rejection(check_pause, PauseRequest(by="oncall", release_id="checkout@1.9.9"), situation())
    assert message == "release checkout@1.9.9 is not running; the current release of checkout is checkout@2.0.0"
    check_pause(PauseRequest(by="oncall", release_id=RELEASE), situation())


def test_a_command_past_its_deadline_expired_and_never_applies() -> None:
    late = PauseRequest(by="oncall", deadline=NOW - timedelta(seconds=1))
    error = refused(check_pause, late, situation())
    assert error.type == COMMAND_EXPIRED
    assert error.message == "this command expired at 09:59:59 UTC before a worker took it; it was not applied"
    check_pause(PauseRequest(by="oncall", deadline=NOW), situation())


@pytest.mark.parametrize("state", [ReleaseState.COMPLETED, ReleaseState.ROLLED_BACK, ReleaseState.FAILED])
def test_an_ended_release_takes_no_command_but_a_rollback(state: ReleaseState) -> None:
    ended = situation(state)
    assert (
        rejection(check_abort, AbortRequest(by="oncall", reason="x"), ended) == f"release {RELEASE} has ended ({state})"
    )
    rollback = RollbackRequest(by="oncall", reason="x")
    if state is ReleaseState.ROLLED_BACK:
        assert rejection(check_rollback, rollback, ended) == f"release {RELEASE} has ended (rolled_back)"
    else:
        check_rollback(rollback, ended)


def test_check_command_alone() -> None:
    check_command(AbortRequest(by="a", reason="x"), situation(ReleaseState.COMPLETED), ended_ok=True)
    with pytest.raises(ApplicationError, match="has ended"):
        check_command(AbortRequest(by="a", reason="x"), situation(ReleaseState.COMPLETED))


# -- rollback, pause, resume, abort ----------------------------------------------------------


def test_a_second_rollback_is_refused() -> None:
    rollback = RollbackRequest(by="oncall", reason="x")
    check_rollback(rollback, situation(ReleaseState.BAKING, interrupted=True))  # an abort winds down: still accepted
    at = situation(ReleaseState.ROLLING_BACK, interrupted=True, rollback_requested=True)
    assert rejection(check_rollback, rollback, at) == f"release {RELEASE} is already rolling_back"


def test_after_a_rollback_or_abort_nothing_else_is_accepted() -> None:
    at = situation(ReleaseState.ABORTING, interrupted=True)
    for check, request in [
        (check_pause, PauseRequest(by="oncall")),
        (check_resume, ResumeRequest(by="oncall")),
        (check_abort, AbortRequest(by="oncall", reason="x")),
        (check_approve, ApproveRequest(by="release-manager", ring="japan")),
        (check_override, OverrideRequest(by="release-manager", ring="japan", kind=OverrideKind.WINDOW, reason="x")),
    ]:
        assert rejection(check, request, at) == f"release {RELEASE} is aborting"


def test_pause_once_and_resume_only_a_paused_or_halted_release() -> None:
    assert rejection(check_pause, PauseRequest(by="oncall"), situation(paused=True)) == (
        f"release {RELEASE} is already paused"
    )
    check_resume(ResumeRequest(by="oncall"), situation(ReleaseState.BAKING, paused=True))
    check_resume(ResumeRequest(by="oncall"), situation(ReleaseState.HALTED))
    assert rejection(check_resume, ResumeRequest(by="oncall"), situation(ReleaseState.BAKING)) == (
        f"release {RELEASE} is baking: neither paused nor halted"
    )


def test_abort_while_rolling_back_is_refused() -> None:
    check_abort(AbortRequest(by="oncall", reason="x"), situation(ReleaseState.BAKING))
    assert rejection(check_abort, AbortRequest(by="oncall", reason="x"), situation(ReleaseState.ROLLING_BACK)) == (
        f"release {RELEASE} is already rolling_back"
    )


# -- approve ----------------------------------------------------------------------------


def test_approve_a_waiting_ring_once_by_an_approver() -> None:
    check_approve(ApproveRequest(by="release-manager", ring="japan"), situation())
    assert rejection(check_approve, ApproveRequest(by="release-manager", ring="tokyo"), situation()) == (
        "unknown ring 'tokyo'; the rings are staging, canary, na-eu, japan"
    )
    assert rejection(check_approve, ApproveRequest(by="mallory", ring="japan"), situation()) == (
        "'mallory' may not approve ring 'japan'; approvers: release-manager"
    )
    assert rejection(check_approve, ApproveRequest(by="release-manager", ring="canary"), situation()) == (
        "ring 'canary' is not waiting for approval (it is promoted)"
    )
    approved = situation()
    approved.rings[-1].approvals.append(Approval(approver="release-manager", at=NOW))
    assert rejection(check_approve, ApproveRequest(by="release-manager", ring="japan"), approved) == (
        "'release-manager' has already approved ring 'japan'"
    )


@pytest.mark.parametrize("allowed", [False, True])
def test_the_starter_approves_only_where_self_approval_is_allowed(allowed: bool) -> None:
    from tests.support.plans import plan_data, region, ring

    japan = ring(
        "japan",
        region("ap-northeast-1", "JP"),
        approval={"required": True, "approvers": [STARTER], "allow_self_approval": allowed},
    )
    data = plan_data()
    data["rings"][-1] = japan
    at = situation(plan=make_plan(rings=data["rings"]))
    request = ApproveRequest(by=STARTER, ring="japan")
    if allowed:
        check_approve(request, at)
    else:
        assert rejection(check_approve, request, at) == (
            f"'{STARTER}' started release {RELEASE} and may not approve it (separation of duties)"
        )


def signing_plan(keys: dict[str, tuple[bytes, str]]) -> Any:
    public = {name: pair[1] for name, pair in keys.items()}
    return make_plan(approvals={"signing": "required", "public_keys": public})


def signature(private_pem: bytes, **claim: Any) -> dict[str, Any]:
    values = {
        "release_id": RELEASE,
        "ring": "japan",
        "version": "2.0.0",
        "approver": "release-manager",
        "signed_at": NOW,
        **claim,
    }
    the_claim = ApprovalClaim(**values)
    return {"signed_at": the_claim.signed_at, "signature": sign_claim(private_pem, the_claim)}


def test_signed_approvals_are_checked_against_the_plans_keys_at_now() -> None:
    keys = {"release-manager": generate_keypair(), "other": generate_keypair()}
    at = situation(plan=signing_plan(keys))
    own = keys["release-manager"][0]

    def approve(**fields: Any) -> ApproveRequest:
        return ApproveRequest(by="release-manager", ring="japan", **fields)

    check_approve(approve(**signature(own)), at)
    assert rejection(check_approve, approve(), at) == (
        "approval by 'release-manager' is not signed; this plan requires signed approvals (ringctl approve --key ...)"
    )
    assert "signature does not match" in rejection(check_approve, approve(**signature(keys["other"][0])), at)
    assert "signature does not match" in rejection(check_approve, approve(**signature(own, version="2.0.1")), at)
    stale = signature(own, signed_at=NOW - timedelta(hours=2))
    assert "more than the 1h allowed" in rejection(check_approve, approve(**stale), at)
    override = OverrideRequest(by="release-manager", ring="japan", kind=OverrideKind.WINDOW, reason="x")
    assert "is not signed" in rejection(check_override, override, at), "overrides are signed like approvals"


def test_an_approvals_signature_cannot_be_replayed_as_an_override() -> None:
    """Found in the restructure: an override's claim was the approval's, so a captured approval signature
    for a ring also let anyone holding it override that ring's window or budget (until it aged out)."""
    keys = {"release-manager": generate_keypair()}
    waiting = situation(ReleaseState.AWAITING_WINDOW, {"japan": RingState.AWAITING_WINDOW}, plan=signing_plan(keys))
    own = keys["release-manager"][0]

    def override(**fields: Any) -> OverrideRequest:
        return OverrideRequest(by="release-manager", ring="japan", kind=OverrideKind.WINDOW, reason="x", **fields)

    replayed = override(**signature(own))  # signed as an approval
    assert "signature does not match" in rejection(check_override, replayed, waiting)
    check_override(override(**signature(own, action="override_window")), waiting)
    budget = override(**signature(own, action="override_budget"))
    assert "signature does not match" in rejection(check_override, budget, waiting)


# -- override, and the old shape: approve with an override flag -----------------------------------


def override_both_ways(kind: OverrideKind, reason: str = "hotfix", by: str = "release-manager") -> list[Any]:
    """The same override as the ``override`` update and as an old client's ``approve`` with a flag."""
    flags = {"override_budget": kind is OverrideKind.BUDGET, "override_window": kind is OverrideKind.WINDOW}
    return [
        (check_override, OverrideRequest(by=by, ring="japan", kind=kind, reason=reason)),
        (check_approve, ApproveRequest(by=by, ring="japan", reason=reason, **flags)),
    ]


@pytest.mark.parametrize("shape", ["override", "approve"])
def test_a_window_override_needs_a_closed_window_and_a_reason(shape: str) -> None:
    index = 0 if shape == "override" else 1
    check, request = override_both_ways(OverrideKind.WINDOW)[index]
    waiting = situation(ReleaseState.AWAITING_WINDOW, {"japan": RingState.AWAITING_WINDOW})
    check(request, waiting)
    assert rejection(check, request, situation()) == (
        "ring 'japan' is not waiting for its deployment window (it is awaiting_approval)"
    )
    check, blank = override_both_ways(OverrideKind.WINDOW, reason="  ")[index]
    assert rejection(check, blank, waiting) == "a window override needs a reason (--reason)"
    check, stranger = override_both_ways(OverrideKind.WINDOW, by="mallory")[index]
    assert rejection(check, stranger, waiting) == "'mallory' may not approve ring 'japan'; approvers: release-manager"


@pytest.mark.parametrize("shape", ["override", "approve"])
def test_a_budget_override_needs_a_waiting_budget_check_and_a_reason(shape: str) -> None:
    index = 0 if shape == "override" else 1
    check, request = override_both_ways(OverrideKind.BUDGET)[index]
    exhausted = {"japan": RingState.AWAITING_BUDGET_OVERRIDE}
    waiting = situation(ReleaseState.AWAITING_BUDGET_OVERRIDE, exhausted, budget_waiting=frozenset({"japan"}))
    check(request, waiting)
    assert rejection(check, request, situation(ReleaseState.AWAITING_BUDGET_OVERRIDE, exhausted)) == (
        "ring 'japan' is not waiting for an error-budget override (it is awaiting_budget_override)"
    )
    check, blank = override_both_ways(OverrideKind.BUDGET, reason="")[index]
    assert rejection(check, blank, waiting) == "an error-budget override needs a reason (--reason)"


def test_both_override_flags_at_once_are_refused() -> None:
    request = ApproveRequest(by="release-manager", ring="japan", override_budget=True, override_window=True, reason="x")
    assert rejection(check_approve, request, situation()) == (
        "override the error budget and the window in two separate commands"
    )


def test_an_old_shape_override_becomes_the_same_override_request() -> None:
    old = ApproveRequest(
        by="alice", ring="canary", override_window=True, reason="hotfix", release_id=RELEASE, deadline=NOW
    )
    assert old.is_override and not ApproveRequest(by="alice", ring="canary").is_override
    assert OverrideRequest.of(old) == OverrideRequest(
        by="alice", ring="canary", kind=OverrideKind.WINDOW, reason="hotfix", release_id=RELEASE, deadline=NOW
    )
    recorded = '{"by":"alice","release_id":null,"ring":"canary","comment":"","override_budget":true,"reason":"r"}'
    assert OverrideRequest.of(ApproveRequest.model_validate_json(recorded)).kind is OverrideKind.BUDGET
