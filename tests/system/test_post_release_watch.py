"""The post-release watch on a standalone ``ringctl worker``, through the CLI (issue 14).

A plan with ``watch: 2h`` run at ``--speed 1000``: after the last ring the release
stays running, ``ringctl status`` says it watches every region and until when,
and it completes once the watch (7.2 s) ends without a breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml

from tests.support.plans import plan_data, region, ring
from tests.support.stack import Stack

SPEED = "1000"


def plan_file(directory: Path) -> Path:
    """Staging and one ring, each with the sandbox-friendly error-ratio gate; ``watch: 2h``."""
    plan = plan_data(rings=[ring("canary", region("watch-canary-1"))], watch="2h")
    plan["staging"] = ring("staging", region("watch-staging-1"))
    path = directory / "watch.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_the_release_watches_every_region_after_the_last_ring_then_completes(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "14.7.0", "--speed", SPEED, plan=str(plan_file(stack.directory)))
    watching = stack.cli.wait_for(release, lambda s: "watching" in s["reason"], 60, "the post-release watch")
    assert watching["state"] == "baking" and watching["current_ring"] == "canary", watching["reason"]
    assert [r["state"] for r in watching["rings"]] == ["promoted", "promoted"]

    shown = stack.cli.run("status", release)
    assert shown.returncode == 0, shown.stderr
    assert "watching every region for 7.2s after the last ring (ends " in shown.stdout, shown.stdout
    ends = datetime.fromisoformat(shown.stdout.split("(ends ")[1].split(" UTC)")[0])
    assert stack.cli.events(watching, "watch_start"), "recorded"

    status = stack.cli.wait_state(release, "completed", "rolled_back", "failed", timeout=60)
    assert status["state"] == "completed", status["reason"]
    actions = [e["action"] for e in status["events"]]
    assert actions.index("watch_start") < actions.index("watch_end") < actions.index("complete")
    ended = datetime.fromisoformat(stack.cli.events(status, "watch_end")[0]["at"]).replace(tzinfo=None)
    assert ended >= ends - timedelta(seconds=1), "the watch lasted until the time status showed"
