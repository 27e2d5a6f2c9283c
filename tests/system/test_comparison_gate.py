"""Comparison gates on the real Prometheus, a standalone ``ringctl worker`` and the CLI (issue 14).

The session's metrics bed serves treated traffic (the new version in canary's two
regions) and control traffic (the version the release replaces, ``0`` in the
sandbox, in the two regions of the next ring, not reached yet). The worker
deploys to sandbox regions and reads that Prometheus. Each test releases its own
service, so its control is always the sandbox's first version and no other
test's traffic mixes in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.metrics_bed import MetricsBed
from tests.support.plans import plan_data, region, ring
from tests.support.processes import Worker, ring_of
from tests.support.stack import Stack

TREATED = ("cmp-canary-1", "cmp-canary-2")
CONTROL = ("cmp-rest-1", "cmp-rest-2")
PREVIOUS = "0"  # the sandbox's version before any release
SELECTOR = 'service="{service}",region="{region}",version="{version}"'
COMPARISON: dict[str, Any] = {
    "name": "errors-vs-control",
    "kind": "comparison",
    "query": f'sum(increase(http_requests_total{{{SELECTOR},code=~"5.."}}[{{window}}]))',
    "samples_query": f"sum(increase(http_requests_total{{{SELECTOR}}}[{{window}}]))",
    "tolerance": 1.5,
    "interval": "1s",
}
ERROR_RATIO: dict[str, Any] = {
    "name": "error-ratio",
    "query": (
        f'sum(rate(http_requests_total{{{SELECTOR},code=~"5.."}}[5s])) / sum(rate(http_requests_total{{{SELECTOR}}}[5s]))'
    ),
    "comparison": "<=",
    "threshold": 0.02,
    "interval": "1s",
}


def plan_file(directory: Path, service: str, bake: Any = "1s", gates: list[dict[str, Any]] | None = None) -> Path:
    """Staging (no gates), canary (compared with the next ring's regions), rest."""
    plan = plan_data(
        staging=ring("staging", region("cmp-staging-1"), gates=[]),
        rings=[
            ring("canary", *(region(name) for name in TREATED), bake=bake, gates=gates or [COMPARISON]),
            ring("rest", *(region(name) for name in CONTROL), gates=[]),
        ],
    )
    plan["services"][0]["name"] = service
    path = directory / f"{service}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def traffic(bed: MetricsBed, service: str, version: str, *, rps: float, treated: float, control: float = 0.01) -> None:
    """``version`` in canary at ``treated`` error ratio, the previous version in the next ring at ``control``."""
    for name in TREATED:
        bed.breach(service, name, version, error_ratio=treated, rps=rps)
    for name in CONTROL:
        bed.breach(service, name, PREVIOUS, error_ratio=control, rps=2000)


def start_worker(stack: Stack, bed: MetricsBed) -> None:
    worker = Worker(stack.server.address, stack.task_queue, stack.state_dir, stack.directory / "worker.log")
    worker.providers = ("--deploy-target", "sandbox", "--sandbox-state", str(stack.state_dir))
    worker.providers += ("--metrics-source", "prometheus", "--prometheus-url", bed.url)
    stack.workers.append(worker.start())


def test_a_regression_against_regions_not_reached_rolls_back_and_says_by_how_much(
    stack: Stack, metrics_bed: MetricsBed
) -> None:
    start_worker(stack, metrics_bed)
    traffic(metrics_bed, "cmp-fail", "2.0.0", rps=2000, treated=0.05)
    release = stack.cli.start("cmp-fail", "2.0.0", plan=str(plan_file(stack.directory, "cmp-fail")))
    status = stack.cli.wait_state(release, "rolled_back", "completed", timeout=90)
    assert status["state"] == "rolled_back", status["reason"]
    failed = stack.cli.events(status, "gate_failed")[0]["detail"]
    assert "errors-vs-control in cmp-canary-1: errors " in failed and "x control (95% bounds " in failed, failed
    assert "regression of at least 1.5x established" in failed, failed
    history = stack.cli.run("history", release)
    assert "regression of at least 1.5x established" in history.stdout, history.stdout


def test_time_to_evidence_shows_per_region_then_the_ring_passes_on_evidence(
    stack: Stack, metrics_bed: MetricsBed
) -> None:
    start_worker(stack, metrics_bed)
    traffic(metrics_bed, "cmp-slow", "2.0.0", rps=20, treated=0.01)  # little traffic: evidence takes a while
    release = stack.cli.start("cmp-slow", "2.0.0", plan=str(plan_file(stack.directory, "cmp-slow")))
    waiting = "waiting for evidence"
    stack.cli.wait_for(release, lambda s: waiting in s["reason"] and "more requests (" in s["reason"], 60, waiting)
    shown = stack.cli.run("status", release)
    assert shown.returncode == 0, shown.stderr
    assert "insufficient" in shown.stdout and "more requests (" in shown.stdout, shown.stdout
    assert "at the current traffic)" in shown.stdout
    for name in TREATED:
        assert f"; {name}: about " in shown.stdout, shown.stdout

    traffic(metrics_bed, "cmp-slow", "2.0.0", rps=2000, treated=0.01)
    status = stack.cli.wait_state(release, "completed", "rolled_back", "halted", timeout=120)
    assert status["state"] == "completed", status["reason"]
    passed = stack.cli.events(status, "evidence_pass")[0]["detail"]
    assert "a regression of 1.5x or more ruled out" in passed and "in 2 regions" in passed, passed


def test_without_traffic_the_ring_halts_at_its_max_and_resume_promotes_it(
    stack: Stack, metrics_bed: MetricsBed
) -> None:
    start_worker(stack, metrics_bed)
    traffic(metrics_bed, "cmp-night", "2.0.0", rps=0, treated=0.0)  # Japan at night: nothing on the new version
    bake = {"min": "2s", "until": "evidence", "max": "8s"}
    release = stack.cli.start("cmp-night", "2.0.0", plan=str(plan_file(stack.directory, "cmp-night", bake)))
    halted = stack.cli.wait_state(release, "halted", "completed", timeout=60)
    assert halted["state"] == "halted", halted["reason"]
    assert "ring canary: no evidence either way after 8s (no requests on the new version yet (" in halted["reason"]
    assert ring_of(halted, "canary")["state"] == "halted"

    resumed = stack.cli.run("resume", release, "--reason", "quiet hours; accepted", actor="alice")
    assert resumed.returncode == 0, resumed.stderr
    assert "promoting ring canary without evidence" in resumed.stdout, resumed.stdout
    status = stack.cli.wait_state(release, "completed", timeout=60)
    assert stack.cli.events(status, "promote_without_evidence")


def test_an_incident_everywhere_holds_instead_of_rolling_back(stack: Stack, metrics_bed: MetricsBed) -> None:
    start_worker(stack, metrics_bed)
    traffic(metrics_bed, "cmp-incident", "2.0.0", rps=2000, treated=0.05, control=0.05)
    plan = plan_file(stack.directory, "cmp-incident", gates=[COMPARISON, ERROR_RATIO])
    release = stack.cli.start("cmp-incident", "2.0.0", plan=str(plan))
    held = stack.cli.wait_state(release, "holding", "rolled_back", "completed", timeout=60)
    assert held["state"] == "holding", held["reason"]
    assert held["reason"].startswith("ring canary: error-ratio in cmp-canary-1, error-ratio in cmp-canary-2 held, not ")
    assert held["reason"].endswith("an incident everywhere, not this release; holding"), held["reason"]
    shown = stack.cli.run("status", release)
    assert f"the regions still on version {PREVIOUS} fail it too" in shown.stdout, shown.stdout

    traffic(metrics_bed, "cmp-incident", "2.0.0", rps=2000, treated=0.01, control=0.01)
    status = stack.cli.wait_state(release, "completed", "rolled_back", timeout=120)
    assert status["state"] == "completed", status["reason"]
    assert not stack.cli.events(status, "gate_failed")


def test_a_latency_regression_from_the_histogram_rolls_back(stack: Stack, metrics_bed: MetricsBed) -> None:
    """The README's latency form: the bad events are requests slower than 0.5 s, counted from the histogram."""
    count = f"sum(increase(http_request_duration_seconds_count{{{SELECTOR}}}[{{window}}]))"
    fast = f'sum(increase(http_request_duration_seconds_bucket{{{SELECTOR},le="0.5"}}[{{window}}]))'
    slow = {**COMPARISON, "name": "slow-vs-control", "query": f"{count} - {fast}", "samples_query": count}
    start_worker(stack, metrics_bed)
    for name in TREATED:
        metrics_bed.breach("cmp-slowness", name, "2.0.0", error_ratio=0.0, latency=0.8, rps=200)
    for name in CONTROL:
        metrics_bed.breach("cmp-slowness", name, PREVIOUS, error_ratio=0.0, latency=0.05, rps=200)
    plan = plan_file(stack.directory, "cmp-slowness", gates=[slow])
    release = stack.cli.start("cmp-slowness", "2.0.0", plan=str(plan))
    status = stack.cli.wait_state(release, "rolled_back", "completed", timeout=90)
    assert status["state"] == "rolled_back", status["reason"]
    failed = stack.cli.events(status, "gate_failed")[0]["detail"]
    assert "slow-vs-control in cmp-canary-1: " in failed and "regression of at least 1.5x established" in failed
