"""A release whose bakes cross the history boundary, driven through the CLI on a standalone worker (issue 11).

``release start --history-limit 200`` makes each run of the release's workflow
continue as new past 200 events, so a bake of a few seconds at the shipped
plan's 1 s (floored) evaluation intervals crosses it. A pause, the Japan
approvals and a rollback land on either side of a boundary; the release's
status, audit and rollback see one release, ``ringctl list`` one row.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from ringctl.core.binaries import find_binary
from ringctl.core.constants import MIN_HISTORY_EVENTS
from tests.support.polling import wait_until
from tests.support.processes import ring_of
from tests.support.stack import Stack

#: The tick that noticed the limit, and a ring's promotion or rollback, may pass it by this much.
MARGIN = 80


def runs(stack: Stack, version: str) -> list[dict[str, Any]]:
    """The runs of ``checkout@version``'s workflow, oldest first: run id, status and history length."""
    temporal, address = find_binary("temporal"), ("--address", stack.server.address)
    query = f"RingctlService = 'checkout' AND RingctlVersion = '{version}'"
    listed = subprocess.run(
        [temporal, "workflow", "list", "--query", query, "--output", "json", *address],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    found = []
    for row in json.loads(listed.stdout or "[]"):
        run_id = row["execution"]["runId"]
        described = subprocess.run(
            [temporal, "workflow", "describe", "-w", row["execution"]["workflowId"], "-r", run_id]
            + ["--output", "json", *address],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        info = json.loads(described.stdout)["workflowExecutionInfo"]
        found.append(
            {
                "run_id": run_id,
                "status": info["status"],
                "events": int(info["historyLength"]),
                "start": info["startTime"],
            }
        )
    return sorted(found, key=lambda run: run["start"])


def continued(stack: Stack, version: str, more_than: int) -> int:
    """Wait until the release has run in more than ``more_than`` runs; how many it has."""
    count: int = wait_until(lambda: (n := len(runs(stack, version))) > more_than and n, 60, f"run {more_than + 1}")
    return count


def test_pause_approvals_and_rollback_on_either_side_of_the_history_boundary(stack: Stack) -> None:
    stack.worker()
    version = "8.0.0"
    release = stack.cli.start("checkout", version, "--speed", "10000", "--history-limit", str(MIN_HISTORY_EVENTS))

    stack.cli.wait_for(release, lambda s: ring_of(s, "canary")["state"] == "baking", 60, "canary baking")
    assert stack.cli.run("pause", release, "--reason", "look at canary").returncode == 0
    before = len(runs(stack, version))
    continued(stack, version, before)  # gates keep running while paused: the run continues as new
    status = stack.cli.wait_state(release, "paused", timeout=10)
    assert ring_of(status, "canary")["state"] in ("baking", "holding")
    assert stack.cli.run("resume", release, "--reason", "canary looks fine").returncode == 0

    status = stack.cli.wait_state(release, "awaiting_approval", timeout=90)
    assert status["current_ring"] == "japan"
    stack.cli.approve_japan(release)
    stack.cli.wait_for(release, lambda s: ring_of(s, "japan")["state"] == "baking", 30, "japan baking")
    assert stack.cli.run("pause", release, "--reason", "hold japan").returncode == 0
    continued(stack, version, len(runs(stack, version)))  # Japan's bake crosses a boundary too

    done = stack.cli.run("rollback", release, "--reason", "bad after all")
    assert done.returncode == 0, done.stderr
    status = stack.cli.wait_state(release, "rolled_back", "failed", timeout=90)
    assert status["state"] == "rolled_back", status["reason"]
    assert all(region["state"] == "rolled_back" for ring in status["rings"] for region in ring["regions"])
    rolled = [e["region"] for e in stack.cli.events(status, "region_rolled_back")]
    assert rolled[-1] in ("staging-us-east-1",) and rolled[0] in ("ap-northeast-1", "ap-northeast-3"), rolled

    audit = json.loads(stack.cli.run("history", release, "--output", "json").stdout)["entries"]
    actions = [(e["actor"], e["action"]) for e in audit]
    for entry in [
        ("ci-pipeline", "start"),
        ("oncall", "pause"),
        ("oncall", "resume"),
        ("alice", "approve"),
        ("bob", "approve"),
        ("oncall", "rollback"),
    ]:
        assert entry in actions, actions
    assert actions.count(("ci-pipeline", "start")) == 1

    listed = json.loads(stack.cli.run("list", "--service", "checkout", "--output", "json").stdout)
    assert [row["release_id"] for row in listed].count(release) == 1, listed
    history = runs(stack, version)
    assert len(history) >= 3, history
    assert all(run["events"] <= MIN_HISTORY_EVENTS + MARGIN for run in history), history
    assert [run["status"] for run in history[:-1]] == ["WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW"] * (
        len(history) - 1
    )
