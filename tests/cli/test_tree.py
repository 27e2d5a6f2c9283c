"""``status --watch``'s tree and change lines, drawn from statuses built here (no server)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from ringctl.activities.models import GateDecision, GateResult
from ringctl.cli.tree import change_key, change_line, status_tree
from ringctl.workflows.models import (
    Approval,
    Override,
    RegionState,
    RegionStatus,
    ReleaseState,
    ReleaseStatus,
    RingState,
    RingStatus,
)
from tests.cli.test_startup import imported_by

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def result(gate: str, region: str, decision: GateDecision = GateDecision.PASS, ago: int = 5) -> GateResult:
    return GateResult(
        gate=gate,
        region=region,
        query="q",
        value=0.02 if decision is GateDecision.FAIL else 0.001,
        threshold=0.01,
        comparison="<=",
        samples=100,
        decision=decision,
        reason="0.02 breaches <= 0.01" if decision is GateDecision.FAIL else "ok",
        evaluated_at=NOW - timedelta(seconds=ago),
    )


def ring(name: str, state: RingState, *regions: str, **extra: object) -> RingStatus:
    region_state = RegionState.PROMOTED if state is RingState.PROMOTED else RegionState.PENDING
    return RingStatus(
        name=name, state=state, regions=[RegionStatus(name=r, state=region_state) for r in regions], **extra
    )


def release(state: ReleaseState, current: str, reason: str, *rings: RingStatus) -> ReleaseStatus:
    return ReleaseStatus(
        release_id="checkout@2.0.0",
        service="checkout",
        version="2.0.0",
        image="shop/checkout:2.0.0",
        state=state,
        current_ring=current,
        reason=reason,
        started_by="ci",
        started_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(seconds=3),
        rings=list(rings),
    )


def drawn(status: ReleaseStatus) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(status_tree(status, now=NOW))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_tree_shows_rings_regions_gates_and_who_still_has_to_approve() -> None:
    waiting = "waiting for 1 more approval of ring japan (alice, bob, carol); approved by alice"
    status = release(
        ReleaseState.AWAITING_APPROVAL,
        "japan",
        waiting,
        ring("canary", RingState.PROMOTED, "us-west-2", gate_results=[result("error-ratio", "us-west-2")]),
        ring(
            "japan",
            RingState.AWAITING_APPROVAL,
            "ap-northeast-1",
            approval_required=True,
            approvals=[Approval(approver="alice", at=NOW - timedelta(minutes=2))],
        ),
    )
    lines = drawn(status).splitlines()
    assert lines[0] == "checkout@2.0.0  awaiting_approval  ring japan  image shop/checkout:2.0.0"
    assert lines[1] == waiting
    assert lines[2] == "├── ✔ canary  promoted"
    assert lines[3] == "│   └── us-west-2  promoted  · gates: 1 pass", "a promoted ring's gates: one summary"
    assert lines[4] == f"└── ▶ japan  awaiting_approval  · {waiting}  · approved by alice at 08:58:00Z"
    assert lines[5] == "    └── ap-northeast-1  pending"


def test_a_baking_ring_lists_each_gate_and_when_they_were_last_checked() -> None:
    baking = ring(
        "na-eu",
        RingState.BAKING,
        "us-east-1",
        "eu-west-1",
        evaluations=3,
        gate_results=[result("error-ratio", "us-east-1", ago=4), result("latency", "eu-west-1", GateDecision.HOLD)],
        budget_override=Override(by="carol", reason="hotfix", at=NOW),
    )
    out = drawn(release(ReleaseState.BAKING, "na-eu", "baking ring na-eu", baking))
    assert (
        "▶ na-eu  baking  · gates checked 3 times, last at 08:59:56Z (4s ago)  · budget overridden by carol: hotfix"
        in out
    )
    assert "│   └── error-ratio  pass  · 0.001 <= 0.01\n" in out
    assert "    └── latency  hold  · 0.001 <= 0.01  · ok" in out


def test_a_closed_window_says_when_it_opens() -> None:
    opens = NOW + timedelta(hours=3, minutes=12)
    waiting = "ring japan: outside Mon–Fri 10:00–16:00 Asia/Tokyo; opens 2026-03-02 12:12 UTC"
    japan = ring("japan", RingState.AWAITING_WINDOW, "ap-northeast-1", waiting_until=opens)
    out = drawn(release(ReleaseState.AWAITING_WINDOW, "japan", waiting, japan))
    assert f"▶ japan  awaiting_window  · {waiting} (window opens in 3h12m)" in out


def test_a_failed_gate_is_listed_with_its_reason_in_any_ring() -> None:
    failed = ring(
        "canary",
        RingState.ROLLED_BACK,
        "us-west-2",
        message="gate breach: error-ratio in us-west-2: 0.02 breaches <= 0.01",
        gate_results=[result("error-ratio", "us-west-2", GateDecision.FAIL)],
    )
    out = drawn(release(ReleaseState.ROLLED_BACK, "canary", "ring canary failed: gate breach", failed))
    assert "↩ canary  rolled_back  · gate breach: error-ratio in us-west-2: 0.02 breaches <= 0.01" in out
    assert "error-ratio  fail  · 0.02 <= 0.01  · 0.02 breaches <= 0.01" in out


def test_change_lines_are_due_only_when_state_ring_regions_or_reason_change() -> None:
    canary = ring("canary", RingState.DEPLOYING, "us-west-2")
    deploying = release(ReleaseState.DEPLOYING, "canary", "deploying ring canary", canary)
    assert change_line(deploying) == (
        "08:59:57Z checkout@2.0.0 deploying ring canary [us-west-2 pending]: deploying ring canary"
    )
    same = deploying.model_copy(update={"updated_at": NOW})
    assert change_key(same) == change_key(deploying)
    healthy = canary.model_copy(update={"regions": [RegionStatus(name="us-west-2", state=RegionState.HEALTHY)]})
    assert change_key(deploying.model_copy(update={"rings": [healthy]})) != change_key(deploying)
    assert change_key(deploying.model_copy(update={"paused": True})) != change_key(deploying)
    assert change_key(deploying.model_copy(update={"reason": "deploying ring canary, 1 of 1"})) == change_key(deploying)


def test_while_waiting_a_new_reason_is_a_change() -> None:
    japan = ring("japan", RingState.AWAITING_APPROVAL, "ap-northeast-1")
    none_yet = release(ReleaseState.AWAITING_APPROVAL, "japan", "waiting for 2 approvals of ring japan", japan)
    one_more = none_yet.model_copy(update={"reason": "waiting for 1 more approval of ring japan; approved by alice"})
    assert change_key(one_more) != change_key(none_yet)


def test_an_ended_release_lists_no_ring_gate_by_gate_unless_one_did_not_pass() -> None:
    japan = ring("japan", RingState.PROMOTED, "ap-northeast-1", gate_results=[result("error-ratio", "ap-northeast-1")])
    out = drawn(release(ReleaseState.COMPLETED, "japan", "every ring promoted", japan))
    assert "└── ✔ japan  promoted\n    └── ap-northeast-1  promoted  · gates: 1 pass\n" in out


def test_commands_start_without_rich() -> None:
    """rich is imported only to draw a tree on a terminal: not by --help, not by a status or wait read."""
    for args in (
        ("--help",),
        ("status", "checkout", "--address", "127.0.0.1:9"),
        ("wait", "checkout", "--address", "127.0.0.1:9"),
    ):
        assert "rich" not in imported_by(*args), args


def test_a_baking_ring_says_when_its_gates_are_checked_next_and_what_the_bake_still_needs() -> None:
    baking = ring(
        "na-eu",
        RingState.BAKING,
        "us-east-1",
        gate_results=[result("error-ratio", "us-east-1", ago=20)],
        evaluations=4,
        next_check_at=NOW + timedelta(seconds=10),
        bake_remaining=timedelta(minutes=12),
        healthy_needed=2,
    )
    text = drawn(release(ReleaseState.BAKING, "na-eu", "baking ring na-eu", baking))
    assert "next at 09:00:10Z (in 10s); bake left 12m, then 2 passing checks in a row" in text
