"""On-call's rollback and abort win over whatever the release is doing, on a standalone worker.

Regression (issue 8, defect 1): a rollback or abort accepted while an activity
ran was lost. The workflow cancelled its progress; the cancelled activity came
back as ``ActivityError`` and was taken for a gate error or a region failure,
so the release carried on (promoting staging, deploying canary and na-eu) and
no rollback ran; on a ``halt`` ring a cancelled deploy became a halt waiting
forever. Each test here interrupts one phase of the shipped plan with a slow
sandbox provider (``scenario.json`` of the worker's sandbox state) and checks,
from the sandbox's own records, that nothing new was deployed after the command
and that every region the release changed was put back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ringctl.providers.sandbox import SandboxWorld, Scenario, write_scenario
from tests.support.processes import SHIPPED_PLAN, ring_of
from tests.support.stack import Stack

SPEED = "10000"
NEW_IMAGE = "registry.example.com/shop/checkout:3.0.0"
ENDED = ("completed", "rolled_back", "aborted", "failed")


def _touched(status: dict[str, Any]) -> set[str]:
    """Regions the release has started to change."""
    return {r["name"] for ring in status["rings"] for r in ring["regions"] if r["state"] != "pending"}


def _deploys(stack: Stack) -> list[str]:
    """Regions that received the new image, in order, from the sandbox's records."""
    world = SandboxWorld(state_dir=stack.state_dir)
    return [call.region for call in world.calls if call.action == "deploy" and call.image == NEW_IMAGE]


def _interrupt(stack: Stack, release: str, command: str) -> tuple[dict[str, Any], set[str]]:
    """Send ``command`` (rollback or abort) as on-call now; the release's final status and what it had touched."""
    before = stack.cli.status(release)
    assert before is not None
    done = stack.cli.run(command, release, "--reason", "on-call: bad release", actor="oncall")
    assert done.returncode == 0, done.stderr
    assert ("rollback started" if command == "rollback" else "aborting") in done.stdout
    right_after = stack.cli.status(release)
    assert right_after is not None and right_after["state"] in ("rolling_back", "aborting", "rolled_back", "aborted")
    final = stack.cli.wait_state(release, *ENDED, timeout=60)
    return final, _touched(before)


def _check_outcome(stack: Stack, final: dict[str, Any], touched: set[str], command: str) -> None:
    deployed = _deploys(stack)
    assert set(deployed) <= touched, f"deployed after the {command}: {set(deployed) - touched}"
    assert len(deployed) == len(set(deployed)), f"a region got the image twice: {deployed}"
    promotes_after = [
        e for e in final["events"][[e["action"] for e in final["events"]].index(command) :] if e["action"] == "promote"
    ]
    assert not promotes_after, promotes_after
    if command == "abort":
        assert final["state"] == "aborted", final["reason"]
        return
    assert final["state"] == "rolled_back", final["reason"]
    world = SandboxWorld(state_dir=stack.state_dir)
    for region in deployed:
        assert world.image(region, "checkout") != NEW_IMAGE, f"{region} still runs the new version"


def _start(stack: Stack, scenario: Scenario, plan: str = SHIPPED_PLAN) -> str:
    write_scenario(stack.state_dir, scenario)
    stack.worker()
    return stack.cli.start("checkout", "3.0.0", "--speed", SPEED, plan=plan)


@pytest.mark.parametrize("command", ["rollback", "abort"])
def test_interrupt_during_deploy(stack: Stack, command: str) -> None:
    release = _start(stack, Scenario(delays={"deploy": 4}))
    stack.cli.wait_state(release, "deploying", timeout=30)
    final, touched = _interrupt(stack, release, command)
    assert touched == {"staging-us-east-1"}
    _check_outcome(stack, final, touched, command)
    assert _deploys(stack) == ["staging-us-east-1"]  # the deploy already sent was awaited, never abandoned


def test_rollback_during_rollout_wait(stack: Stack) -> None:
    release = _start(stack, Scenario(delays={"rollout": 4}))
    stack.cli.wait_for(
        release, lambda s: ring_of(s, "staging")["regions"][0]["state"] == "verifying", 30, "the rollout wait"
    )
    final, touched = _interrupt(stack, release, "rollback")
    _check_outcome(stack, final, touched, "rollback")


@pytest.mark.parametrize("command", ["rollback", "abort"])
def test_interrupt_during_gate_evaluation(stack: Stack, command: str) -> None:
    release = _start(stack, Scenario(delays={"gates": 4}))
    stack.cli.wait_for(release, lambda s: s["state"] == "baking" and s["current_ring"] == "staging", 30, "baking")
    final, touched = _interrupt(stack, release, command)
    _check_outcome(stack, final, touched, command)
    assert not [e for e in final["events"] if e["action"] == "gate_error"], "a cancellation was taken for a gate error"


def test_rollback_during_budget_check(stack: Stack) -> None:
    release = _start(stack, Scenario(delays={"gates": 3}))
    stack.cli.wait_for(
        release,
        lambda s: ring_of(s, "staging")["state"] == "promoted",
        60,
        "staging to be promoted (budget check next)",
    )
    final, touched = _interrupt(stack, release, "rollback")
    assert "us-west-2" not in touched
    _check_outcome(stack, final, touched, "rollback")


def test_rollback_during_window_wait(stack: Stack, tmp_path: Path) -> None:
    plan = yaml.safe_load(Path(SHIPPED_PLAN).read_text())
    now = datetime.now(UTC)
    plan["staging"]["freezes"] = [
        {"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(days=1)).isoformat(), "reason": "test"}
    ]
    frozen = tmp_path / "frozen-staging.yaml"
    frozen.write_text(yaml.safe_dump(plan))
    release = _start(stack, Scenario(), plan=str(frozen))
    stack.cli.wait_state(release, "awaiting_window", timeout=30)
    final, touched = _interrupt(stack, release, "rollback")
    assert touched == set()
    _check_outcome(stack, final, touched, "rollback")


def test_rollback_during_approval_wait_undoes_every_ring_in_reverse(stack: Stack) -> None:
    release = _start(stack, Scenario())
    stack.cli.wait_state(release, "awaiting_approval", timeout=90)
    final, touched = _interrupt(stack, release, "rollback")
    _check_outcome(stack, final, touched, "rollback")
    rolled = [e["region"] for e in final["events"] if e["action"] == "region_rolled_back"]
    order = ["staging", "canary", "na-eu", "apac"]
    ring_index = {r["name"]: order.index(ring["name"]) for ring in final["rings"][:4] for r in ring["regions"]}
    assert [ring_index[r] for r in rolled] == sorted((ring_index[r] for r in rolled), reverse=True)
    assert ring_of(final, "japan")["regions"][0]["image"] is None  # Japan untouched


def test_rollback_of_a_halted_release(stack: Stack) -> None:
    release = _start(stack, Scenario(bad_gates={"ap-southeast-1": {"*"}}))
    stack.cli.wait_state(release, "halted", timeout=90)
    final, touched = _interrupt(stack, release, "rollback")
    _check_outcome(stack, final, touched, "rollback")


def test_rollback_during_deploy_on_a_halt_ring_does_not_halt(stack: Stack) -> None:
    release = _start(stack, Scenario(delays={"deploy": 1}))
    stack.cli.wait_for(
        release, lambda s: s["current_ring"] == "na-eu" and s["state"] == "baking", 90, "na-eu (before apac) to bake"
    )
    write_scenario(stack.state_dir, Scenario(delays={"deploy": 6}))  # apac's first two deploys outlast the command
    stack.cli.wait_for(
        release, lambda s: s["current_ring"] == "apac" and s["state"] == "deploying", 60, "apac (on_failure: halt)"
    )
    final, touched = _interrupt(stack, release, "rollback")
    _check_outcome(stack, final, touched, "rollback")


def test_rollback_while_paused(stack: Stack) -> None:
    release = _start(stack, Scenario())
    stack.cli.wait_state(release, "baking", timeout=30)
    done = stack.cli.run("pause", release, "--reason", "looking", actor="oncall")
    assert done.returncode == 0, done.stderr
    stack.cli.wait_state(release, "paused", timeout=10)
    final, touched = _interrupt(stack, release, "rollback")
    _check_outcome(stack, final, touched, "rollback")
