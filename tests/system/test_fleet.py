"""The shipped rings.yaml deploying to a fleet of real Kubernetes control planes, one per kube context.

Every action is a ``ringctl`` subprocess: ``ci-pipeline`` starts releases, the release managers
``alice`` and ``bob`` approve Japan (``carol`` overrides its window when it is closed now, on the
record), ``oncall`` steers. The worker is the ``ringctl worker`` console script with
``--deploy-target kubernetes`` and the fleet's kubeconfig. Deploys and rollbacks are checked on
the API servers (each region's Deployment image, ``metadata.generation`` and its ReplicaSets'
``deployment.kubernetes.io/revision``), never in the worker's memory. Gates use the sandbox
metrics source (see :func:`tests.support.fleet_bed.metrics_args`), scripted per test by ``scenario.json``.
"""

from __future__ import annotations

import signal
import time

import pytest

from ringctl.providers.sandbox import ANY_VERSION, Scenario, write_scenario
from tests.support.fleet import Fleet
from tests.support.fleet_bed import ENDED, OVERRIDE_REASON, SPEED, WHOLE_RELEASE, Bed, attempts, history, region_of
from tests.support.fleet_checks import assert_deployed_once, assert_rolled_back, assert_untouched
from tests.support.processes import SHIPPED_PLAN, ring_of
from tests.support.stack import Stack


@pytest.fixture
def bed(stack: Stack, fleet: Fleet) -> Bed:
    """Every region back on the previous images before the test."""
    fleet.reset()
    return Bed(stack, fleet)


def test_whole_release_every_region_once(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    before, payments = fleet.views("checkout"), fleet.views("payments")
    bed.worker()
    release = bed.start("checkout", "2.1.0")
    overridden = bed.approve_japan(release)
    final = cli.wait_state(release, *ENDED, timeout=WHOLE_RELEASE)
    assert final["state"] == "completed", final["reason"]
    assert_deployed_once(before, fleet.views("checkout"), fleet.image("checkout", "2.1.0"), fleet.clusters)
    assert_untouched(payments, fleet.views("payments"), fleet.clusters)
    events = history(bed, release)
    assert {e["actor"] for e in events if e["action"] == "approve"} == {"alice", "bob"}
    overrides = [e for e in events if e["action"] == "override_window"]
    expected = [("carol", "japan", OVERRIDE_REASON)] if overridden else []
    assert [(e["actor"], e["ring"], e["detail"]) for e in overrides] == expected
    assert [e["actor"] for e in events if e["action"] == "start"] == ["ci-pipeline"]


def test_gate_breach_rolls_back_in_reverse_ring_order(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    write_scenario(bed.stack.state_dir, Scenario(bad_gates={"eu-west-1": {ANY_VERSION}}))
    before = fleet.views("checkout")
    bed.worker()
    release = bed.start("checkout", "2.2.0")
    final = cli.wait_state(release, *ENDED, timeout=WHOLE_RELEASE)
    assert final["state"] == "rolled_back", final["reason"]
    after = fleet.views("checkout")
    changed = bed.contexts("staging", "canary", "na-eu")
    assert_rolled_back(before, after, fleet.image("checkout", "2.2.0"), changed)
    assert_untouched(before, after, bed.contexts("apac", "japan"))
    order = [fleet.context_of(e["region"]) for e in history(bed, release) if e["action"] == "region_rolled_back"]
    assert sorted(order) == sorted(changed)
    assert [changed.index(c) >= 2 for c in order] == [True] * 4 + [False] * 2, order  # na-eu first
    assert order[-2:] == bed.contexts("canary") + bed.contexts("staging"), order


def test_halt_then_resume_completes(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    write_scenario(bed.stack.state_dir, Scenario(bad_gates={"ap-southeast-1": {ANY_VERSION}}))
    before = fleet.views("checkout")
    bed.worker()
    release = bed.start("checkout", "2.3.0")
    halted = cli.wait_state(release, "halted", *ENDED, timeout=WHOLE_RELEASE)
    assert (halted["state"], halted["current_ring"]) == ("halted", "apac"), halted["reason"]
    write_scenario(bed.stack.state_dir, Scenario())
    done = cli.run("resume", release, "--reason", "ap-southeast-1 fixed upstream", actor="oncall")
    assert done.returncode == 0, done.stderr
    bed.approve_japan(release)
    final = cli.wait_state(release, *ENDED, timeout=WHOLE_RELEASE)
    assert final["state"] == "completed", final["reason"]
    # the retried ring re-deployed nothing: still one generation per region
    assert_deployed_once(before, fleet.views("checkout"), fleet.image("checkout", "2.3.0"), fleet.clusters)
    assert [e["actor"] for e in history(bed, release) if e["action"] == "resume"] == ["oncall"]


def test_rollback_after_completion(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    before = fleet.views("checkout")
    bed.worker()
    release = bed.start("checkout", "2.4.0")
    bed.approve_japan(release)
    assert cli.wait_state(release, *ENDED, timeout=WHOLE_RELEASE)["state"] == "completed"
    done = cli.run("rollback", "--service", "checkout", "--reason", "INC-7: checkout 2.4.0 leaks", actor="oncall")
    assert done.returncode == 0, done.stderr
    final = cli.wait_state(release, "rolled_back", "failed", timeout=90)
    assert final["state"] == "rolled_back", final["reason"]
    assert_rolled_back(before, fleet.views("checkout"), fleet.image("checkout", "2.4.0"), fleet.clusters)


def test_second_start_of_a_running_service_is_refused(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    bed.worker()
    first = bed.start("payments", "3.0.0")
    second = cli.run(
        "release", "start", "--service", "payments", "--version", "3.0.1", "--plan", SHIPPED_PLAN,
        "--task-queue", bed.stack.task_queue, "--speed", SPEED, actor="ci-pipeline",
    )  # fmt: skip
    assert second.returncode == 1, second
    assert "already has a release in flight" in second.stderr and first in second.stderr, second.stderr
    status = cli.wait_for(first, lambda s: ring_of(s, "staging")["state"] == "promoted", 60, "staging promoted")
    assert status["release_id"] == first
    images = {v.image for v in fleet.views("payments").values()}
    assert fleet.image("payments", "3.0.1") not in images
    assert fleet.view(bed.contexts("staging")[0], "payments").image == fleet.image("payments", "3.0.0")


def test_unreachable_api_server_fails_its_region_after_retries(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    victim = fleet.context_of("eu-central-1")
    before = fleet.views("checkout")
    worker = bed.worker()
    release = bed.start("checkout", "2.6.0")
    cli.wait_for(release, lambda s: ring_of(s, "canary")["state"] == "baking", 60, "canary baking")
    fleet.kill_apiserver(victim)
    try:
        cli.wait_for(release, lambda s: region_of(s, "eu-central-1")["state"] != "pending", 90, "eu-central-1 tried")
        tried = time.monotonic()
        failed = cli.wait_for(
            release, lambda s: region_of(s, "eu-central-1")["state"] == "failed", 90, "eu-central-1 failed"
        )
        retried_for = time.monotonic() - tried
        final = cli.wait_state(release, *ENDED, timeout=90)
    finally:
        fleet.restart_apiserver(victim)
    assert final["state"] == "rolled_back", final["reason"]
    assert "Connection refused" in region_of(failed, "eu-central-1")["message"], failed
    assert "eu-central-1" in ring_of(final, "na-eu")["message"], final
    # the retry budget of a deploy: 5 attempts, 1 + 2 + 4 + 8 s apart
    assert retried_for > 10, f"failed after {retried_for:.1f} s"
    assert worker.log().count("region eu-central-1 (context prod-eu-central-1): API server unreachable") == 5
    after = fleet.views("checkout")
    others = [c for c in bed.contexts("staging", "canary", "na-eu") if c != victim]
    assert_rolled_back(before, after, fleet.image("checkout", "2.6.0"), others)
    assert_untouched(before, after, [victim, *bed.contexts("apac", "japan")])


def test_worker_killed_during_a_deploy(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    canary = fleet.context_of("us-west-2")
    before = fleet.views("checkout")
    first = bed.worker()
    release = bed.start("checkout", "2.7.0")
    cli.wait_for(release, lambda s: ring_of(s, "staging")["state"] == "baking", 60, "staging baking")
    fleet.signal_apiserver(canary, signal.SIGSTOP)  # the canary's deploy call hangs on its API server
    try:
        cli.wait_for(release, lambda s: region_of(s, "us-west-2")["state"] == "deploying", 60, "us-west-2 deploying")
        time.sleep(1)
        first.kill()
    finally:
        fleet.signal_apiserver(canary, signal.SIGCONT)
    bed.worker()
    cli.wait_for(release, lambda s: ring_of(s, "na-eu")["state"] == "promoted", 90, "na-eu promoted")
    after = fleet.views("checkout")
    assert_deployed_once(before, after, fleet.image("checkout", "2.7.0"), bed.contexts("staging", "canary", "na-eu"))
    assert_untouched(before, after, bed.contexts("japan"))
    assert attempts(bed, "deploy")["us-west-2"] == 2  # the killed worker's attempt was lost and retried once


def test_worker_killed_during_a_rollback(bed: Bed) -> None:
    fleet, cli = bed.fleet, bed.stack.cli
    staging = bed.contexts("staging")[0]
    before = fleet.views("checkout")
    first = bed.worker()
    release = bed.start("checkout", "2.8.0")
    cli.wait_for(release, lambda s: ring_of(s, "canary")["state"] == "baking", 60, "canary baking")
    fleet.signal_apiserver(staging, signal.SIGSTOP)  # staging's rollback call hangs on its API server
    try:
        done = cli.run("rollback", release, "--reason", "oncall: bad canary", actor="oncall")
        assert done.returncode == 0, done.stderr
        cli.wait_for(
            release,
            lambda s: region_of(s, "staging-us-east-1")["state"] == "rolling_back",
            30,
            "staging rolling back",
        )
        time.sleep(1)
        first.kill()
    finally:
        fleet.signal_apiserver(staging, signal.SIGCONT)
    bed.worker()
    final = cli.wait_state(release, *ENDED, timeout=90)
    assert final["state"] == "rolled_back", final["reason"]
    after = fleet.views("checkout")
    assert_rolled_back(before, after, fleet.image("checkout", "2.8.0"), bed.contexts("staging", "canary"))
    assert_untouched(before, after, bed.contexts("na-eu", "apac", "japan"))
    assert attempts(bed, "rollback") == {"us-west-2": 1, "staging-us-east-1": 2}
