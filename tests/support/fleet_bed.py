"""A system test on the fleet: its stack, the fleet, the plan's contexts, and reading a release's history."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from ringctl.core.binaries import find_binary
from ringctl.core.constants import workflow_id_for
from tests.support.fleet import Fleet
from tests.support.processes import Worker
from tests.support.stack import Stack

SPEED = "10000"
ENDED = ("completed", "rolled_back", "aborted", "failed")
#: Seconds a whole release of the shipped plan may take at SPEED (it takes about 40 s).
WHOLE_RELEASE = 180
#: carol's reason for deploying Japan outside its window.
OVERRIDE_REASON = "fleet system test: Japan's window is closed now"


def metrics_args(stack: Stack) -> tuple[str, ...]:
    """The workers' metrics source: the sandbox's, scripted by ``scenario.json`` in the test's state dir."""
    return ("--metrics-source", "sandbox", "--sandbox-state", str(stack.state_dir))


@dataclass
class Bed:
    """One test's Temporal task queue, CLI and workers, and the session's fleet."""

    stack: Stack
    fleet: Fleet

    def worker(self) -> Worker:
        """Start a ``ringctl worker`` deploying to the fleet (stopped after the test)."""
        log = self.stack.directory / f"worker-{len(self.stack.workers) + 1}.log"
        providers = self.fleet.provider_args(*metrics_args(self.stack))
        worker = Worker(
            self.stack.server.address, self.stack.task_queue, self.stack.state_dir, log, providers=providers
        )
        self.stack.workers.append(worker.start())
        return worker

    def start(self, service: str, version: str) -> str:
        """``ringctl release start ... --speed SPEED`` as ci-pipeline."""
        return self.stack.cli.start(service, version, "--speed", SPEED)

    def contexts(self, *rings: str) -> list[str]:
        """The kube contexts of the plan's rings (``staging`` included), in ring order."""
        plan = self.fleet.plan
        return [r.kube_context for ring in [plan.staging, *plan.rings] if ring.name in rings for r in ring.regions]

    def approve_japan(self, release: str) -> bool:
        """Wait for Japan's approval; alice and bob approve; carol overrides a closed window. Overridden?"""
        cli = self.stack.cli
        status = cli.wait_state(release, "awaiting_approval", "halted", *ENDED, timeout=WHOLE_RELEASE)
        assert (status["state"], status["current_ring"]) == ("awaiting_approval", "japan"), status["reason"]
        refused = cli.run("approve", release, "--ring", "japan", actor="ci-pipeline")
        assert refused.returncode == 1 and "may not approve" in refused.stderr, refused
        for manager in ("alice", "bob"):
            done = cli.run("approve", release, "--ring", "japan", "--comment", "fleet looks good", actor=manager)
            assert done.returncode == 0, done.stderr
        status = cli.wait_for(release, lambda s: s["state"] != "awaiting_approval", 20, "the approvals to count")
        if status["state"] != "awaiting_window":
            return False
        done = cli.run(
            "approve", release, "--ring", "japan", "--override-window", "--reason", OVERRIDE_REASON, actor="carol"
        )
        assert done.returncode == 0, done.stderr
        return True


def region_of(status: dict[str, Any], name: str) -> dict[str, Any]:
    """One region's status."""
    region: dict[str, Any] = next(r for ring in status["rings"] for r in ring["regions"] if r["name"] == name)
    return region


def history(bed: Bed, release: str) -> list[dict[str, Any]]:
    """``ringctl history RELEASE --output json``."""
    done = bed.stack.cli.run("history", release, "--output", "json")
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = json.loads(done.stdout)["entries"]
    return events


def attempts(bed: Bed, activity: str, service: str = "checkout") -> dict[str, int]:
    """Region -> attempt number of its ``activity`` task that ran last, from the release's Temporal history."""
    command = [find_binary("temporal"), "workflow", "show", "-w", workflow_id_for(service), "--output", "json"]
    done = subprocess.run([*command, "--address", bed.stack.server.address], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    scheduled: dict[str, str] = {}
    result: dict[str, int] = {}
    for event in json.loads(done.stdout)["events"]:
        task = event.get("activityTaskScheduledEventAttributes")
        if task and task["activityType"]["name"] == activity:
            data = task["input"]["payloads"][0]["data"]
            decoded = json.loads(base64.b64decode(data)) if isinstance(data, str) else data
            target = decoded["undo"]["target"] if "undo" in decoded else decoded["target"]
            scheduled[str(event["eventId"])] = target["region"]
        started = event.get("activityTaskStartedEventAttributes")
        if started and str(started["scheduledEventId"]) in scheduled:
            result[scheduled[str(started["scheduledEventId"])]] = int(started.get("attempt", 1))
    return result
