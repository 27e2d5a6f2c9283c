"""Detection-to-rollback latency of the SLO gates, on real components.

Starts a Temporal dev server, a traffic simulator and Prometheus (scraping every
``--scrape-interval``), and a worker with sandbox regions and the real
Prometheus metrics source. Each run releases a new version into one ring with a
long bake and an availability SLO evaluated every ``--interval``; once the
ring is baking healthily it turns the region bad in the simulator and measures
the time until the first rollback call starts. Prints every run and the median
against the target: one evaluation interval plus 2 s.

    .venv/bin/python bench/detection_to_rollback.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.testing import WorkflowEnvironment

from bench.procstats import run_to_exit
from ringctl.client.devserver import start_dev_server
from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.log import configure_logging
from ringctl.providers.models import RollbackResult, UndoRecord
from ringctl.providers.prometheus import PrometheusSource
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxWorld
from ringctl.worker import build_worker
from ringctl.workflows.models import ReleaseState, ReleaseStatus
from ringctl.workflows.ring_release import RingRelease
from tests.support.prometheus_server import PrometheusServer, find_prometheus
from tests.support.slo_plans import slo_plan, stage
from tests.support.traffic import TrafficSimulator

SERVICE = "bench"
REGION = "bench-1"


class TimedTarget(SandboxDeployTarget):
    """The sandbox target, noting when the first rollback call starts."""

    def __init__(self, world: SandboxWorld) -> None:
        super().__init__(world)
        self.first_rollback: float | None = None

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        if self.first_rollback is None:
            self.first_rollback = time.monotonic()
        return super().rollback(undo)


async def one_run(env: WorkflowEnvironment, sim: TrafficSimulator, prom_url: str, run: int, interval: float) -> float:
    version = f"9.{run}.0"
    for region in ("bench-staging", REGION):
        sim.set(SERVICE, region, version, rps=50, error_ratio=0.0, latency=0.05)
    await asyncio.sleep(3)  # two scrapes: the new series has a rate
    plan = slo_plan(
        SERVICE,
        prom_url,
        stage("staging", "bench-staging", bake="1s"),
        [stage("ring", REGION, bake="10m")],
        interval=f"{interval:g}s",
        min_samples=20,
    )
    world = SandboxWorld()
    target = TimedTarget(world)
    queue = f"bench-{run}"
    async with PrometheusSource(timeout=3) as source:
        worker = build_worker(env.client, target, source, task_queue=queue, poll_interval=timedelta(milliseconds=100))
        async with worker:
            handle = await start_release(
                env.client, plan, service=SERVICE, version=version, started_by="bench", task_queue=queue
            )
            while True:  # the ring is baking and has passed at least one evaluation
                status: ReleaseStatus = await handle.query(RingRelease.status)
                if status.rings[1].gate_results:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(interval * 0.37 * (run % 3))  # spread the change over the interval
            sim.set(SERVICE, REGION, version, error_ratio=0.2)
            bad_at = time.monotonic()
            final: ReleaseStatus = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
    if final.state is not ReleaseState.ROLLED_BACK or target.first_rollback is None:
        raise RuntimeError(f"run {run}: expected a rollback, got {final.state}: {final.reason}")
    sim.set(SERVICE, REGION, version, rps=0)
    return target.first_rollback - bad_at


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0, help="gate evaluation interval, seconds")
    parser.add_argument("--scrape-interval", default="1s", help="Prometheus scrape interval")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    binary = find_prometheus()
    if binary is None:
        sys.exit("prometheus binary not found (apt-get install prometheus, or set PROMETHEUS_BINARY)")
    with (
        TrafficSimulator() as sim,
        PrometheusServer([sim.target], binary=binary, scrape_interval=args.scrape_interval) as prom,
    ):
        async with await start_dev_server(dev_server_log_level="error") as env:
            latencies = []
            for run in range(args.runs):
                latency = await one_run(env, sim, prom.url, run, args.interval)
                latencies.append(latency)
                print(f"run {run + 1}: detection to first rollback call {latency:.2f}s", flush=True)
    median = statistics.median(latencies)
    target = args.interval + 2
    verdict = "meets" if median <= target else "MISSES"
    print(
        f"median {median:.2f}s over {args.runs} runs (min {min(latencies):.2f}s, max {max(latencies):.2f}s); "
        f"evaluation interval {args.interval:g}s, scrape interval {args.scrape_interval}, gate window 5s; "
        f"target <= interval + 2s = {target:g}s: {verdict}"
    )


if __name__ == "__main__":
    run_to_exit(main())
