"""Commands that race each other, sent by separate `ringctl` processes at the same instant.

Regression (issue 8, defect 5): a rollback sent with an abort lost to it and was
refused with "the release has ended (completed)" (Temporal's execution status,
not the release's), although an aborted release can be rolled back.
"""

from __future__ import annotations

from tests.support.cli_runs import at_once
from tests.support.stack import Stack


def test_rollback_racing_abort_always_rolls_back(stack: Stack) -> None:
    stack.worker()
    for attempt in range(3):
        release = stack.cli.start("checkout", f"5.0.{attempt}", "--speed", "10000")
        stack.cli.wait_state(release, "baking", timeout=30)
        abort, rollback = at_once(
            stack.server.address,
            (("abort", release, "--reason", "stop it"), "oncall"),
            (("rollback", release, "--reason", "undo it"), "oncall"),
        )
        assert rollback.returncode == 0, rollback.stderr
        assert "rollback started" in rollback.stdout
        assert abort.returncode in (0, 1), abort.stderr
        if abort.returncode == 1:
            # the rollback came first: the abort is refused in the release's terms, never "completed"
            assert "rolling_back" in abort.stderr or "(rolled_back)" in abort.stderr, abort.stderr
        final = stack.cli.wait_state(release, "rolled_back", "failed", "aborted", "completed", timeout=30)
        assert final["state"] == "rolled_back", (attempt, final["state"], final["reason"])
        assert [e["action"] for e in final["events"]].count("rolled_back") == 1


def test_rollback_right_after_an_abort_ended_the_release(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "5.1.0", "--speed", "10000")
    stack.cli.wait_state(release, "baking", timeout=30)
    assert stack.cli.run("abort", release, "--reason", "stop").returncode == 0
    stack.cli.wait_state(release, "aborted", timeout=20)
    done = stack.cli.run("rollback", release, "--reason", "undo after all")
    assert done.returncode == 0, done.stderr
    final = stack.cli.wait_state(release, "rolled_back", "failed", timeout=30)
    assert final["state"] == "rolled_back", final["reason"]
