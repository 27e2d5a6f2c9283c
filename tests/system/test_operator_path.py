"""The shipped rings.yaml on a standalone `ringctl worker`, every action through the CLI.

Regression (issue 8, defect 2): the worker could not decode a plan with
``holidays:`` inside the workflow sandbox (``time.localtime`` on import of
``dateutil``), so the shipped plan stayed ``pending`` forever on a real worker
while in-process tests, which had imported ``holidays`` already, passed.
"""

from __future__ import annotations

from tests.support.processes import SHIPPED_PLAN, ring_of
from tests.support.stack import Stack

#: Runs the shipped plan's waits 10,000 times faster (the documented ``--speed``); the floors keep
#: 1 s evaluation intervals, so each ring bakes for its SLOs' consecutive healthy checks (3 to 5 s).
SPEED = "10000"


def test_shipped_plan_leaves_pending_on_a_standalone_worker(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "2.0.0", plan=SHIPPED_PLAN)
    assert release == "checkout@2.0.0"
    status = stack.cli.wait_for(release, lambda s: s["state"] != "pending", 20, "the release to leave pending")
    assert status["state"] in ("deploying", "baking"), status["reason"]
    assert "Failed decoding" not in stack.workers[0].log()


def test_whole_release_through_every_ring_japan_approved_by_two_release_managers(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "2.1.0", "--speed", SPEED)
    status = stack.cli.wait_state(release, "awaiting_approval", timeout=90)
    assert status["current_ring"] == "japan"
    assert [r["state"] for r in status["rings"][:-1]] == ["promoted"] * 4

    refused = stack.cli.run("approve", release, "--ring", "japan", actor="ci-pipeline")
    assert refused.returncode == 1 and "may not approve" in refused.stderr
    stack.cli.approve_japan(release)
    status = stack.cli.wait_state(release, "completed", "rolled_back", "failed", "halted", timeout=90)
    assert status["state"] == "completed", status["reason"]
    japan = ring_of(status, "japan")
    assert {a["approver"] for a in japan["approvals"]} == {"alice", "bob"}
    assert all(region["image"] == "registry.example.com/shop/checkout:2.1.0" for region in japan["regions"])
    start = stack.cli.events(status, "start")[0]
    assert start["actor"] == "ci-pipeline" and "speed 10000" in start["detail"]
