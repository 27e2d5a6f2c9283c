"""SLO gates end to end: the RingRelease workflow on the real dev server, reading a real Prometheus.

The session's traffic simulator and Prometheus (1 s scrapes, ``metrics_bed``);
every series the tests need is created when the module starts, and
``prometheus_ready`` waits until Prometheus has it. Each test releases its
own service (so workflow ids never collide) with SLOs on 3-8 s windows and 1 s
evaluation intervals; regions are the sandbox's, metrics are real. Without a
``prometheus`` binary the tests skip locally and fail in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from ringctl.activities.models import GateDecision, GateResult
from ringctl.cli.render import render_status
from ringctl.client.lookup import ended_status
from ringctl.client.releases import send, start_release
from ringctl.core.errors import ReleaseError
from ringctl.core.plan import Plan
from ringctl.providers.prometheus import PrometheusSource
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxWorld
from ringctl.worker import build_worker
from ringctl.workflows.gating import latest_results
from ringctl.workflows.models import ApproveRequest, ReleaseState, ReleaseStatus, RingState, RollbackRequest
from ringctl.workflows.ring_release import RingRelease
from tests.support.cli_runs import ringctl
from tests.support.gate_results import gate_result
from tests.support.metrics_bed import MetricsBed
from tests.support.prometheus_server import PrometheusServer, free_port
from tests.support.release_waits import wait_for
from tests.support.slo_plans import slo_plan, slos, stage
from tests.support.traffic import TrafficSimulator

ROOT = Path(__file__).resolve().parents[2]
NEW = "2.0.0"
RPS = 50.0
ALL_REGIONS = ["staging-1", "us-east-1", "eu-west-1", "ap-northeast-1", "budget-1"]

# service -> {region: (error_ratio, latency)} for version NEW; absent regions serve healthy traffic.
SCENARIOS: dict[str, dict[str, tuple[float, float]]] = {
    "svc-healthy": {},
    "svc-spike-rollback": {},
    "svc-spike-halt": {},
    "svc-slow": {"us-east-1": (0.0, 0.8)},
    "svc-outage": {},
    "svc-budget": {},
    "svc-e2e": {"eu-west-1": (0.2, 0.05)},
}
#: Services whose NEW version has no traffic at all in us-east-1 (until the test starts it).
NO_TRAFFIC = {"svc-quiet": "us-east-1"}


@pytest.fixture(scope="module")
def traffic(metrics_bed: MetricsBed) -> TrafficSimulator:
    """The session's simulator, serving every series of the module's tests."""
    sim = metrics_bed.traffic
    for service, bad in SCENARIOS.items():
        for region in ALL_REGIONS:
            error_ratio, latency = bad.get(region, (0.0, 0.05))
            sim.set(service, region, NEW, rps=RPS, error_ratio=error_ratio, latency=latency)
    sim.set("svc-quiet", "staging-1", NEW, rps=RPS)
    # svc-budget's previous version has burnt its budget in budget-1: half its requests fail.
    sim.set("svc-budget", "budget-1", "1.0.0", rps=RPS, error_ratio=0.5)
    return sim


@pytest.fixture(scope="module")
def prometheus(metrics_bed: MetricsBed, traffic: TrafficSimulator) -> PrometheusServer:
    """The session's real Prometheus (Debian's package), scraping the simulator every second."""
    return metrics_bed.prometheus


@pytest.fixture(scope="module")
async def prometheus_ready(prometheus: PrometheusServer) -> str:
    """Prometheus' URL, once the 5 s windows hold enough samples."""
    plan = slo_plan("svc-healthy", prometheus.url, stage("staging", "staging-1"), [stage("canary", "us-east-1")])
    gate = plan.gates_for("svc-healthy", plan.staging)[0]
    variables = {
        "service": "svc-healthy",
        "region": "staging-1",
        "version": NEW,
        "previous_version": "",
        "window": "5s",
    }
    async with PrometheusSource(timeout=3) as source:
        for _ in range(60):
            measurement = await source.measure(gate, plan.staging.regions[0], variables, prometheus.url)
            if measurement.samples is not None and measurement.samples >= 100:
                return prometheus.url
            await asyncio.sleep(0.5)
    pytest.fail(f"Prometheus has no data for the simulator: {measurement}")


@asynccontextmanager
async def prometheus_worker(client: Client, task_queue: str, world: SandboxWorld) -> AsyncIterator[Worker]:
    """A worker with sandbox regions and the real Prometheus metrics source."""
    async with PrometheusSource(timeout=3) as source:
        worker = build_worker(
            client, SandboxDeployTarget(world), source, task_queue=task_queue, poll_interval=timedelta(milliseconds=100)
        )
        async with worker:
            yield worker


async def release(client: Client, task_queue: str, plan: Plan) -> WorkflowHandle[Any, Any]:
    """Start a release of the plan's only service at ``NEW``."""
    return await start_release(
        client, plan, service=plan.services[0].name, version=NEW, started_by="ci-pipeline", task_queue=task_queue
    )


def ring_state(name: str, state: RingState) -> Callable[[ReleaseStatus], bool]:
    return lambda s: any(r.name == name and r.state is state for r in s.rings)


async def finish(handle: WorkflowHandle[Any, Any]) -> None:
    """Terminate the release if a failed assertion left it running."""
    with contextlib.suppress(Exception):  # already ended
        await handle.terminate("test cleanup")


async def release_to_end(client: Client, task_queue: str, world: SandboxWorld, plan: Plan) -> ReleaseStatus:
    """Run a release of ``plan`` with the Prometheus-backed worker until it ends (at most a minute)."""
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            return await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
        finally:
            await finish(handle)


# -- the gate decides -----------------------------------------------------------


async def test_healthy_version_passes_every_gate(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str
) -> None:
    plan = slo_plan("svc-healthy", prometheus_ready, stage("staging", "staging-1"), [stage("canary", "us-east-1")])
    status = await release_to_end(client, task_queue, world, plan)

    assert status.state is ReleaseState.COMPLETED, status.reason
    results = status.rings[1].gate_results
    gates = {r.gate for r in results}
    assert gates == {"availability", "availability:burn-3s-8s", "latency-p99"}
    assert all(r.decision is GateDecision.PASS for r in results)
    availability = next(r for r in results if r.gate == "availability")
    assert availability.slo == "availability" and availability.region == "us-east-1"
    assert availability.value == pytest.approx(0.0, abs=1e-9) and availability.threshold == pytest.approx(0.01)
    assert availability.samples is not None and availability.samples >= 20
    assert 'region="us-east-1"' in availability.query and "[5s]" in availability.query
    burn = next(r for r in results if r.kind == "burn_rate")
    assert "[3s]" in burn.query and "[8s]" in burn.query and len(burn.measured) == 2
    latency = next(r for r in results if r.gate == "latency-p99")
    assert latency.value is not None and 0.025 <= latency.value <= 0.05
    # the bake ends only after two passing evaluations in a row
    assert status.rings[1].evaluations >= 2 and len([r for r in results if r.gate == "availability"]) == 1
    table = render_status(status)
    assert "canary/availability" in table and "query: (sum(rate(http_requests_total" in table


@pytest.mark.parametrize(("service", "on_failure"), [("svc-spike-rollback", "rollback"), ("svc-spike-halt", "halt")])
async def test_error_spike_in_one_region_fails_the_ring_at_once(
    client: Client,
    task_queue: str,
    world: SandboxWorld,
    prometheus_ready: str,
    traffic: TrafficSimulator,
    service: str,
    on_failure: str,
) -> None:
    ring = stage("na-eu", "us-east-1", "eu-west-1", bake="60s", max_parallel=2, on_failure=on_failure)
    plan = slo_plan(service, prometheus_ready, stage("staging", "staging-1"), [ring])
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            await wait_for(handle, lambda s: s.rings[1].evaluations >= 6)  # baking, healthy so far
            traffic.set(service, "eu-west-1", NEW, error_ratio=0.2)
            spiked = asyncio.get_running_loop().time()
            if on_failure == "rollback":
                status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 30)
                assert status.state is ReleaseState.ROLLED_BACK
            else:
                status = await wait_for(handle, lambda s: s.state is ReleaseState.HALTED, timeout=30)
                assert status.rings[1].state is RingState.HALTED
                assert world.image("eu-west-1") == f"registry.example.com/{service}:{NEW}", "halt leaves regions"
                await send(client, service, RingRelease.rollback, RollbackRequest(by="oncall", reason="spike"))
                status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 30)
            detected_after = asyncio.get_running_loop().time() - spiked
        finally:
            await finish(handle)

    assert detected_after < 20, "the first breach fails the ring; the 60 s bake is not waited out"
    assert "gate breach" in (status.rings[1].message or status.reason)
    assert "availability in eu-west-1" in status.rings[1].message
    failed = {(r.gate, r.region) for r in status.rings[1].gate_results if r.decision is GateDecision.FAIL}
    assert ("availability", "eu-west-1") in failed
    assert all(region == "eu-west-1" for _, region in failed)
    assert all(world.image(r) == "sandbox/app:0" for r in ("staging-1", "us-east-1", "eu-west-1"))
    assert status.state is ReleaseState.ROLLED_BACK


async def test_latency_breach_fails(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str
) -> None:
    plan = slo_plan("svc-slow", prometheus_ready, stage("staging", "staging-1"), [stage("canary", "us-east-1")])
    status = await release_to_end(client, task_queue, world, plan)
    assert status.state is ReleaseState.ROLLED_BACK
    assert status.rings[0].state is RingState.ROLLED_BACK and "latency-p99 in us-east-1" in status.reason
    failed = [r for r in status.rings[1].gate_results if r.decision is GateDecision.FAIL]
    assert [r.gate for r in failed] == ["latency-p99"]
    assert failed[0].value is not None and 0.75 < failed[0].value <= 1.0


# -- missing data holds ------------------------------------------------------------


async def test_no_traffic_holds_and_never_passes(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str, traffic: TrafficSimulator
) -> None:
    plan = slo_plan("svc-quiet", prometheus_ready, stage("staging", "staging-1"), [stage("canary", "us-east-1")])
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            held = await wait_for(handle, ring_state("canary", RingState.HOLDING))
            assert held.state is ReleaseState.HOLDING and "missing data" in held.reason
            await asyncio.sleep(5)  # more than the 2 s bake
            still = await handle.query(RingRelease.status)
            assert still.rings[1].state is RingState.HOLDING, "no traffic never promotes"
            assert {r.decision for r in still.rings[1].gate_results} == {GateDecision.HOLD}
            assert any("no series" in r.reason or "samples" in r.reason for r in still.rings[1].gate_results)
            assert any(e.action == "hold" for e in still.events)

            traffic.set("svc-quiet", "us-east-1", NEW, rps=RPS)  # traffic arrives: the bake resumes
            status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
        finally:
            await finish(handle)
    assert status.state is ReleaseState.COMPLETED
    assert any(e.action == "hold_cleared" for e in status.events)


async def test_prometheus_down_mid_bake_holds_and_resumes_when_back(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str, prometheus: PrometheusServer
) -> None:
    plan = slo_plan(
        "svc-outage", prometheus_ready, stage("staging", "staging-1"), [stage("canary", "us-east-1", bake="6s")]
    )
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            await wait_for(handle, lambda s: s.rings[1].state is RingState.BAKING and bool(s.rings[1].gate_results))
            prometheus.stop()
            try:
                held = await wait_for(handle, ring_state("canary", RingState.HOLDING), timeout=20)
                assert held.state is ReleaseState.HOLDING
                latest = held.rings[1].gate_results[-1]
                assert latest.decision is GateDecision.HOLD and "cannot connect" in latest.reason
                await asyncio.sleep(3)
                assert (await handle.query(RingRelease.status)).rings[1].state is RingState.HOLDING
            finally:
                await asyncio.to_thread(prometheus.start)
            status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
        finally:
            await finish(handle)
    assert status.state is ReleaseState.COMPLETED
    actions = [e.action for e in status.events]
    assert "hold" in actions and "hold_cleared" in actions


# -- error budget before a ring -------------------------------------------------------


async def test_exhausted_error_budget_blocks_the_ring_until_overridden(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str
) -> None:
    ring = stage("canary", "budget-1", slo_overrides={"availability": {"error_budget": True}})
    plan = slo_plan("svc-budget", prometheus_ready, stage("staging", "staging-1"), [ring])
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            blocked = await wait_for(handle, ring_state("canary", RingState.AWAITING_BUDGET_OVERRIDE))
            assert blocked.state is ReleaseState.AWAITING_BUDGET_OVERRIDE
            assert "error budget exhausted" in blocked.reason and "--override-budget" in blocked.reason
            budget = [r for r in blocked.rings[1].gate_results if r.kind == "error_budget"]
            assert budget and budget[-1].region == "budget-1" and budget[-1].decision is GateDecision.FAIL
            assert budget[-1].value is not None and budget[-1].value < 0  # overspent: 50 % bad vs 1 % budget
            assert "budget-1" not in {c.region for c in world.calls}, "nothing deployed into the ring"
            await asyncio.sleep(2)
            assert "budget-1" not in {c.region for c in world.calls}

            with pytest.raises(ReleaseError, match="needs a reason"):
                await send(
                    client,
                    "svc-budget",
                    RingRelease.approve,
                    ApproveRequest(ring="canary", by="sre", override_budget=True),
                )
            with pytest.raises(ReleaseError, match="not waiting for an error-budget override"):
                await send(
                    client,
                    "svc-budget",
                    RingRelease.approve,
                    ApproveRequest(ring="staging", by="sre", override_budget=True, reason="x"),
                )
            result = await send(
                client,
                "svc-budget",
                RingRelease.approve,
                ApproveRequest(
                    ring="canary", by="sre", override_budget=True, reason="INC-42: fix ships in this release"
                ),
            )
            assert "overridden by sre" in result.message
            status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
        finally:
            await finish(handle)
    assert status.state is ReleaseState.COMPLETED
    assert world.image("budget-1") == f"registry.example.com/svc-budget:{NEW}"
    override = status.rings[1].budget_override
    assert override is not None and (override.by, override.reason) == ("sre", "INC-42: fix ships in this release")
    assert ("sre", "override_budget", "INC-42: fix ships in this release") in [
        (e.actor, e.action, e.detail) for e in status.events
    ]
    assert any(e.action == "budget_exhausted" for e in status.events)


# -- validate --check-queries ------------------------------------------------------------


def test_check_queries_reports_invalid_promql_per_gate(prometheus_ready: str, tmp_path: Path) -> None:
    plan = slo_plan("svc-healthy", prometheus_ready, stage("staging", "staging-1"), [stage("canary", "us-east-1")])
    data = plan.model_dump(mode="json", exclude_none=True)
    data["services"][0]["slos"][1]["sli"] = "histogram_quantile(0.99, sum by (le) (rate(x[{window}]))"
    data["rings"][0]["gates"] = [
        {"name": "broken", "query": "sum(rate(x[{window}])) >", "comparison": "<=", "threshold": 1}
    ]
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data))

    result = ringctl("validate", str(path), "--check-queries", "--prometheus-url", prometheus_ready)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{path}: services[0].slos[1].sli: 1:") and "parse error" in line for line in lines)
    assert any(line.startswith(f"{path}: rings[0].gates[0].query: 1:") for line in lines)
    assert len(lines) == 2, lines
    assert "Traceback" not in result.stderr

    shipped = ringctl("validate", "rings.yaml", "--check-queries", "--prometheus-url", prometheus_ready)
    assert shipped.returncode == 0, shipped.stderr
    assert "queries parse" in shipped.stdout and "rings.yaml: ok" in shipped.stdout

    down = ringctl("validate", "rings.yaml", "--check-queries", "--prometheus-url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "cannot check queries" in down.stderr and "cannot connect" in down.stderr
    assert "Traceback" not in down.stderr


# -- end to end -----------------------------------------------------------------------------


async def test_bad_only_in_the_second_ring_rolls_back_everything_and_never_touches_japan(
    client: Client, task_queue: str, world: SandboxWorld, prometheus_ready: str
) -> None:
    rings = [
        stage("ring-1", "us-east-1"),
        stage("ring-2", "eu-west-1"),
        stage("japan", "ap-northeast-1", approval={"required": True}),
    ]
    plan = slo_plan("svc-e2e", prometheus_ready, stage("staging", "staging-1"), rings)
    async with prometheus_worker(client, task_queue, world):
        handle = await release(client, task_queue, plan)
        try:
            status = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 90)
        finally:
            await finish(handle)

    assert status.state is ReleaseState.ROLLED_BACK
    assert [e.ring for e in status.events if e.action == "promote"] == ["staging", "ring-1"]
    assert "ring ring-2 failed: gate breach: availability in eu-west-1" in status.reason
    rollbacks = [c.region for c in world.calls if c.action == "rollback"]
    assert rollbacks == ["eu-west-1", "us-east-1", "staging-1"], "reverse ring order"
    assert all(world.image(r) == "sandbox/app:0" for r in ("staging-1", "us-east-1", "eu-west-1"))
    assert "ap-northeast-1" not in {c.region for c in world.calls}, "Japan is never touched"
    assert [r.state for r in status.rings] == [RingState.ROLLED_BACK] * 3 + [RingState.PENDING]
    assert not status.rings[3].gate_results


def test_slo_helper_plans_are_valid() -> None:
    assert [s["name"] for s in slos()] == ["availability", "latency-p99"]


def test_status_keeps_the_latest_result_of_each_gate_in_each_region_newest_last() -> None:
    """The status carries one round, not every evaluation: its size (and the worker's memory) stays flat."""

    def result(gate: str, where: str, decision: GateDecision, kind: str = "threshold") -> GateResult:
        return gate_result(gate, where, decision, kind=kind)

    kept = [
        result("a", "r1", GateDecision.PASS),
        result("a", "r2", GateDecision.PASS),
        result("a", "r1", GateDecision.PASS, "error_budget"),
    ]
    new = [result("a", "r1", GateDecision.FAIL)]
    latest = latest_results(kept, new)
    assert [(r.gate, r.region, r.kind, r.decision) for r in latest] == [
        ("a", "r2", "threshold", GateDecision.PASS),
        ("a", "r1", "error_budget", GateDecision.PASS),
        ("a", "r1", "threshold", GateDecision.FAIL),
    ]
