"""A worker SIGKILLed mid-call: a second worker takes over within seconds and nothing is lost.

Regressions (issue 8): deploy and rollback activities had a 2-minute timeout and
no heartbeat, so a worker killed during one stalled that region for about two
minutes (defect 12); and the sandbox kept its regions in the worker's memory,
so after a restart a rollback "restored" nothing yet reported ``rolled_back``
(defect 13).
"""

from __future__ import annotations

import time

from ringctl.providers.sandbox import SandboxWorld, Scenario, write_scenario
from tests.support.processes import ring_of
from tests.support.stack import Stack

NEW_IMAGE = "registry.example.com/shop/checkout:6.0.0"
#: Before the fix a lost attempt waited out a 2-minute start-to-close timeout.
RECOVERY_WITHIN = 25.0


def _deploys(stack: Stack) -> list[str]:
    world = SandboxWorld(state_dir=stack.state_dir)
    return [c.region for c in world.calls if c.action == "deploy" and c.image == NEW_IMAGE]


def test_worker_killed_during_rollback_is_replaced_within_seconds(stack: Stack) -> None:
    write_scenario(stack.state_dir, Scenario(delays={"rollback": 3}))
    first = stack.worker()
    release = stack.cli.start("checkout", "6.0.0", "--speed", "10000")
    stack.cli.wait_for(release, lambda s: s["current_ring"] == "canary" and s["state"] == "baking", 60, "canary")
    assert stack.cli.run("rollback", release, "--reason", "bad").returncode == 0
    stack.cli.wait_for(
        release,
        lambda s: any(r["state"] == "rolling_back" for ring in s["rings"] for r in ring["regions"]),
        20,
        "a region rolling back",
    )
    first.kill()
    killed = time.monotonic()
    stack.worker()
    final = stack.cli.wait_state(release, "rolled_back", "failed", timeout=60)
    took = time.monotonic() - killed
    assert final["state"] == "rolled_back", final["reason"]
    assert took < RECOVERY_WITHIN, f"recovery took {took:.1f} s"
    world = SandboxWorld(state_dir=stack.state_dir)  # the state the killed worker left, not a fresh memory
    for region in ("staging-us-east-1", "us-west-2"):
        assert world.image(region, "checkout") != NEW_IMAGE, f"{region} was not really rolled back"
        assert ring_of(final, "staging" if region.startswith("staging") else "canary")["state"] == "rolled_back"


def test_worker_killed_during_deploy_each_region_gets_the_image_once(stack: Stack) -> None:
    write_scenario(stack.state_dir, Scenario(delays={"deploy": 3}))
    first = stack.worker()
    release = stack.cli.start("checkout", "6.0.0", "--speed", "10000")
    stack.cli.wait_for(release, lambda s: s["current_ring"] == "canary" and s["state"] == "deploying", 60, "canary")
    first.kill()
    killed = time.monotonic()
    write_scenario(stack.state_dir, Scenario())
    stack.worker()
    stack.cli.wait_for(release, lambda s: ring_of(s, "canary")["state"] == "promoted", 60, "canary promoted")
    assert time.monotonic() - killed < RECOVERY_WITHIN + 10
    deployed = _deploys(stack)
    assert deployed[:2] == ["staging-us-east-1", "us-west-2"]
    assert len(deployed) == len(set(deployed)), f"a region got the image twice: {deployed}"
