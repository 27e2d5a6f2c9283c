"""Gates on real metrics: the shipped rings.yaml, a standalone worker, and Debian's Prometheus.

The session's metrics bed (``tests/support/metrics_bed.py``) runs a traffic
simulator and a real Prometheus scraping it every second. Each test's worker is
``ringctl worker --metrics-source prometheus --prometheus-url <bed>``, so the
plan's own PromQL (5m, 10m, 30m, 1h, 6h and 28d windows, ``min_samples`` 300)
is sent to Prometheus as written; only ``release start --speed 10000`` shortens
bakes and intervals (1 s evaluations, three healthy ones in a row per ring).
Every action is a ``ringctl`` subprocess. Each test releases its own version;
only the breach test uses ``payments``, because its errors stay in the region's
28-day error budget for the rest of the session. Tests that end mid-release leave
the release to the stack fixture (terminated): an ``abort`` sent while an
activity is completing can fail with Temporal's "Unable to perform workflow
execution update due to unexpected workflow task failure" (exit 1), a known
problem of ``ringctl.client.releases.send`` outside this module.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cli_runs import RINGCTL
from tests.support.fleet import BASE_VERSION, Fleet
from tests.support.fleet_checks import assert_rolled_back, assert_untouched
from tests.support.metrics_bed import MetricsBed, SlowProxy
from tests.support.polling import wait_until
from tests.support.processes import Worker, ring_of
from tests.support.stack import Stack

SPEED = "10000"
ENDED = ("completed", "rolled_back", "aborted", "failed")
#: Seconds the slow Prometheus takes per query (the plan's query timeout is 10 s).
SLOW = 6.0
#: The rings of the shipped plan, in release order.
RINGS = ("staging", "canary", "na-eu", "apac", "japan")


@dataclass(frozen=True)
class DeployTarget:
    """The worker's deploy-target flags, and the version every region runs before a release."""

    args: tuple[str, ...]
    #: What ``{previous_version}`` becomes: the tag of the image a deploy replaces.
    previous_version: str


@pytest.fixture
def deploy_target(fleet: Fleet) -> DeployTarget:
    """The session's fleet of real clusters, every region back on the base image before the test."""
    fleet.reset()
    return DeployTarget(fleet.provider_args(), BASE_VERSION)


def start_worker(stack: Stack, target: DeployTarget, prometheus_url: str) -> Worker:
    """``ringctl worker`` on the stack's task queue, reading ``prometheus_url`` for every region."""
    log = stack.directory / f"worker-{len(stack.workers) + 1}.log"
    worker = Worker(stack.server.address, stack.task_queue, stack.state_dir, log)
    with open(log, "ab") as out:  # the child keeps its own descriptor
        worker.process = subprocess.Popen(
            [RINGCTL, "worker", *target.args, "--metrics-source", "prometheus", "--prometheus-url", prometheus_url]
            + ["--task-queue", stack.task_queue],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEMPORAL_ADDRESS": stack.server.address},
        )
    stack.workers.append(worker)  # stopped by the stack fixture
    process = worker.process
    wait_until(lambda: "worker polling" in worker.log() or process.poll() is not None, 30, "the worker")
    assert process.poll() is None, f"the worker exited:\n{worker.log()}"
    assert f"prometheus at {prometheus_url} for every region" in worker.log()
    return worker


def launch(
    stack: Stack, bed: MetricsBed, target: DeployTarget, service: str, version: str, url: str | None = None
) -> str:
    """Healthy traffic of ``version`` and the previous one everywhere, a worker, and the release; its id."""
    bed.healthy(service, target.previous_version)
    bed.healthy(service, version)
    bed.wait_for_samples(service, [target.previous_version, version])
    start_worker(stack, target, url or bed.url)
    return stack.cli.start(service, version, "--speed", SPEED)


def actions(status: dict[str, Any], *names: str, since: int = 0) -> list[dict[str, Any]]:
    """Events of ``names`` from index ``since`` of the audit on."""
    return [e for e in status["events"][since:] if e["action"] in names]


def bake_results(status: dict[str, Any], ring: str, gate: str = "availability") -> list[dict[str, Any]]:
    """One gate's latest bake evaluation in ``ring`` (the error-budget check before it left out), as a list."""
    return [r for r in ring_of(status, ring)["gate_results"] if r["gate"] == gate and r["kind"] != "error_budget"]


def abort(stack: Stack, release: str) -> dict[str, Any]:
    """End the release where it is, as on-call; its final status.

    Only while it waits (for an approval): an abort that ends the workflow in the same task as
    an activity completes can be refused by Temporal (see the module docstring).
    """
    done = stack.cli.run("abort", release, "--reason", "system test done", actor="oncall")
    assert done.returncode == 0, done.stderr
    return stack.cli.wait_state(release, *ENDED, timeout=30)


# -- a: healthy traffic ---------------------------------------------------------------------


def test_healthy_traffic_bakes_on_real_values_and_promotes(
    stack: Stack, metrics_bed: MetricsBed, deploy_target: DeployTarget
) -> None:
    version = "5.1.0"
    release = launch(stack, metrics_bed, deploy_target, "checkout", version)
    status = stack.cli.wait_state(release, "awaiting_approval", timeout=120)
    assert status["current_ring"] == "japan"
    assert [ring_of(status, r)["state"] for r in RINGS[:4]] == ["promoted"] * 4
    assert not actions(status, "hold", "budget_hold", "gate_failed", "gate_error"), status["events"]

    staging = {r["gate"]: r for r in ring_of(status, "staging")["gate_results"]}
    assert staging["availability"]["threshold"] == pytest.approx(0.01)  # the staging override
    assert staging["availability"]["samples"] >= 50
    canary = ring_of(status, "canary")["gate_results"]
    assert {r["gate"] for r in canary} == {
        "no-regression",
        "availability",
        "availability:burn-5m-1h",
        "availability:burn-30m-6h",
        "latency-p99",
        "availability:budget",
    }
    assert all(r["decision"] == "pass" and r["region"] == "us-west-2" for r in canary)
    by_gate = {r["gate"]: r for r in canary}
    availability = by_gate["availability"]
    assert availability["value"] == 0.0 and availability["samples"] >= 300  # measured, not assumed
    # the plan's windows as written (5m, 30m and 6h, 10m, 28d), in the seconds the worker sends
    assert f'version="{version}"' in availability["query"] and "[300s]" in availability["query"]
    assert (
        "[1800s]" in by_gate["availability:burn-30m-6h"]["query"]
        and "[21600s]" in by_gate["availability:burn-30m-6h"]["query"]
    )
    assert f'version="{deploy_target.previous_version}"' in by_gate["no-regression"]["query"]
    assert "[600s]" in by_gate["no-regression"]["query"]
    assert "[2419200s]" in by_gate["availability:budget"]["query"] and by_gate["availability:budget"]["value"] == 1.0
    latency = by_gate["latency-p99"]["value"]
    assert latency is not None and 0.025 <= latency <= 0.05  # the 50 ms traffic's p99 bucket
    assert ring_of(status, "canary")["evaluations"] >= 3  # three healthy evaluations in a row end the bake
    assert abort(stack, release)["state"] == "aborted"


# -- b: a breach rolls back -----------------------------------------------------------------


def test_breach_in_eu_west_1_rolls_back_every_changed_region_in_reverse(
    stack: Stack, metrics_bed: MetricsBed, deploy_target: DeployTarget, fleet: Fleet
) -> None:
    version = "5.2.0"
    before = fleet.views("payments")
    release = launch(stack, metrics_bed, deploy_target, "payments", version)
    # na-eu's error budget (all versions, 28d) is checked before it deploys: break the new version after that
    stack.cli.wait_for(
        release,
        lambda s: s["current_ring"] == "na-eu" and s["state"] in ("deploying", "verifying", "baking"),
        90,
        "na-eu to deploy",
    )
    metrics_bed.breach("payments", "eu-west-1", version, error_ratio=0.2)
    final = stack.cli.wait_state(release, *ENDED, timeout=60)

    assert final["state"] == "rolled_back", final["reason"]
    failed = actions(final, "gate_failed")
    assert len(failed) == 1 and failed[0]["ring"] == "na-eu", failed
    measured = re.search(r"availability in eu-west-1: ([0-9.e+-]+) breaches <= 0\.001", failed[0]["detail"])
    assert measured is not None and float(measured.group(1)) > 0.001, failed[0]["detail"]
    assert "us-east-1" not in failed[0]["detail"] and "eu-central-1" not in failed[0]["detail"]

    changed = {r["name"]: ring["name"] for ring in final["rings"] for r in ring["regions"] if r["state"] != "pending"}
    assert set(changed.values()) == {"staging", "canary", "na-eu"}, changed
    rolled = [e["region"] for e in actions(final, "region_rolled_back")]
    assert set(rolled) == set(changed), rolled
    order = [RINGS.index(changed[region]) for region in rolled]
    assert order == sorted(order, reverse=True), f"not in reverse ring order: {rolled}"
    assert all(r["image"] is None for r in ring_of(final, "japan")["regions"])  # Japan untouched
    assert not actions(final, "promote", since=final["events"].index(failed[0]))
    # on the API servers: each changed region got the image once and was undone once; the others never changed
    after = fleet.views("payments")
    contexts = [fleet.context_of(region) for region in changed]
    assert_rolled_back(before, after, fleet.image("payments", version), contexts)
    assert_untouched(before, after, set(fleet.clusters) - set(contexts))


# -- c: Prometheus down ---------------------------------------------------------------------


def test_prometheus_down_mid_bake_holds_and_continues_when_it_returns(
    stack: Stack, metrics_bed: MetricsBed, deploy_target: DeployTarget
) -> None:
    version = "5.3.0"
    release = launch(stack, metrics_bed, deploy_target, "checkout", version)
    before = stack.cli.wait_for(
        release, lambda s: s["current_ring"] == "canary" and s["state"] == "baking", 60, "canary to bake"
    )  # canary needs three healthy evaluations a second apart: Prometheus goes away before the third
    with metrics_bed.outage():
        held = stack.cli.wait_state(release, "holding", timeout=30)
        holds = actions(held, "hold", "budget_hold", since=len(before["events"]))
        assert holds, held["events"]
        first_hold = holds[0]
        assert first_hold["action"] == "hold" and first_hold["ring"] == "canary", first_hold
        assert "cannot connect" in first_hold["detail"], first_hold["detail"]
        time.sleep(4)  # more than the three evaluations a healthy bake needs
        down = stack.cli.status(release)
        assert down is not None and down["state"] == "holding", down
        assert ring_of(down, "canary")["state"] == "holding"
        since = down["events"].index(first_hold)
        assert not actions(down, "promote", "deploy", since=since), "promoted while Prometheus was down"
        assert [r["decision"] for r in bake_results(down, "canary")] == ["hold"]  # the latest evaluation

    after = stack.cli.wait_for(
        release, lambda s: ring_of(s, "canary")["state"] == "promoted", 60, "canary to promote after the outage"
    )
    cleared = actions(after, "hold_cleared", since=since)
    assert cleared and cleared[0]["ring"] == "canary"
    assert after["events"].index(cleared[0]) < after["events"].index(actions(after, "promote", since=since)[0])


# -- d: Prometheus slow while on-call rolls back ---------------------------------------------


def test_rollback_wins_over_a_slow_prometheus(
    stack: Stack, metrics_bed: MetricsBed, deploy_target: DeployTarget
) -> None:
    version = "5.4.0"
    with SlowProxy(metrics_bed.url) as proxy:
        release = launch(stack, metrics_bed, deploy_target, "checkout", version, url=proxy.url)
        stack.cli.wait_for(
            release, lambda s: s["current_ring"] == "canary" and s["state"] == "baking", 60, "canary to bake"
        )
        proxy.delay = SLOW  # every query from now on
        wait_until(lambda: proxy.held > 0, 15, "a gate evaluation stuck on the slow Prometheus")
        before = stack.cli.status(release)
        assert before is not None
        sent = time.monotonic()
        done = stack.cli.run("rollback", release, "--reason", "on-call: bad release", actor="oncall")
        assert done.returncode == 0, done.stderr
        right_after = stack.cli.status(release)
        answered = time.monotonic() - sent
        assert right_after is not None and right_after["state"] in ("rolling_back", "rolled_back"), right_after
        assert answered < SLOW, f"the rollback waited for the slow query ({answered:.1f} s)"
        final = stack.cli.wait_state(release, *ENDED, timeout=60)

    assert final["state"] == "rolled_back", final["reason"]
    command = actions(final, "rollback")[0]
    after = final["events"].index(command)
    assert not actions(final, "promote", "deploy", since=after), final["events"][after:]
    touched = {r["name"] for ring in before["rings"] for r in ring["regions"] if r["state"] != "pending"}
    assert {e["region"] for e in actions(final, "region_rolled_back")} == touched
    assert "us-east-1" not in touched  # na-eu never started


# -- e: missing data --------------------------------------------------------------------------


def test_missing_data_never_promotes_and_data_returning_continues(
    stack: Stack, metrics_bed: MetricsBed, deploy_target: DeployTarget
) -> None:
    version = "5.5.0"
    metrics_bed.healthy("checkout", version, ["staging-us-east-1"])  # none yet in canary's us-west-2
    metrics_bed.healthy("checkout", deploy_target.previous_version)
    metrics_bed.wait_for_samples("checkout", [deploy_target.previous_version], ["us-west-2"])
    metrics_bed.wait_for_samples("checkout", [version], ["staging-us-east-1"])
    start_worker(stack, deploy_target, metrics_bed.url)
    release = stack.cli.start("checkout", version, "--speed", SPEED)

    held = stack.cli.wait_state(release, "holding", timeout=60)
    assert held["current_ring"] == "canary" and ring_of(held, "canary")["state"] == "holding"
    hold = actions(held, "hold")[0]
    assert hold["ring"] == "canary" and "no series" in hold["detail"], hold
    time.sleep(4)
    still = stack.cli.status(release)
    assert still is not None and still["state"] == "holding"
    assert ring_of(still, "canary")["state"] == "holding"
    assert [e["ring"] for e in actions(still, "promote")] == ["staging"]

    metrics_bed.healthy("checkout", version, ["us-west-2"])  # the new version's pods serve again
    after = stack.cli.wait_for(
        release, lambda s: ring_of(s, "canary")["state"] == "promoted", 60, "canary to promote once data returns"
    )
    assert actions(after, "hold_cleared")[0]["ring"] == "canary"
    passed = [r for r in bake_results(after, "canary") if r["decision"] == "pass"]
    assert passed and all(r["samples"] >= 300 for r in passed)
