"""Bake accuracy: a release's wall time beside its configured waits plus provider time (issue 11, target 4).

A Temporal dev server and a worker with the sandbox providers, every provider
call timed (bench/orchestration.py's ``TimedTarget``). Each release: staging + 4
rings of one region, every bake 2 s, a gate every second. The baseline, measured
in the same run, is what the release cannot avoid: the configured bakes plus the
time its provider calls took (deploy call to rollout complete, per ring). Per
tick, the gap between consecutive gate evaluations beside the gate interval
shows whether the bake drifts.

    .venv/bin/python bench/bake_accuracy.py [--releases 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client

from bench.orchestration import POLL, TimedTarget, plan_of
from bench.procstats import run_to_exit
from ringctl.client.devserver import start_dev_server
from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.log import configure_logging
from ringctl.providers.sandbox import SandboxMetricsSource, SandboxWorld
from ringctl.worker import build_worker
from ringctl.workflows.models import ReleaseState, ReleaseStatus
from tests.support.plans import gate, region, ring

BAKE = 2.0
INTERVAL = 1.0
STAGES = ("staging", "ring-1", "ring-2", "ring-3", "ring-4")


def bake_lengths(final: ReleaseStatus, completes: dict[str, float]) -> list[float]:
    """Per stage, its rollout completing (the bake starts) to its ``promote`` event (the bake ended)."""
    lengths = []
    for name in STAGES:
        promoted = next(e.at.timestamp() for e in final.events if e.action == "promote" and e.ring == name)
        lengths.append(promoted - completes[f"acc-{name}"])
    return lengths


async def one_release(client: Client, run: int) -> tuple[float, float, list[float], list[int]]:
    """Wall time, provider time, bake lengths and evaluations per bake of one release."""
    world = SandboxWorld()
    target = TimedTarget(world)
    stages = [
        ring(name, region(f"acc-{name}"), bake=f"{BAKE:g}s", gates=[gate(interval=f"{INTERVAL:g}s")]) for name in STAGES
    ]
    plan = plan_of(["acc"], stages[0], stages[1:])
    queue = f"bench-accuracy-{run}"
    version = f"4.{run}.0"
    image = f"registry.example.com/acc:{version}"
    async with build_worker(client, target, SandboxMetricsSource(world), task_queue=queue, poll_interval=POLL):
        began = time.time()
        handle = await start_release(client, plan, service="acc", version=version, started_by="bench", task_queue=queue)
        final = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 120)
        wall = time.time() - began
    if final.state is not ReleaseState.COMPLETED:
        raise SystemExit(f"release {version}: {final.state} ({final.reason})")
    deploys = {c[1]: c[3] for c in target.calls("deploy", image)}
    completes = {c[1]: c[3] for c in target.calls("rollout_complete", image)}
    provider = sum(completes[where] - deploys[where] for where in deploys)
    return wall, provider, bake_lengths(final, completes), [r.evaluations for r in final.rings]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=5)
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    print(f"$ .venv/bin/python bench/bake_accuracy.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; server and worker on it")
    waits = BAKE * len(STAGES)
    print(
        f"each release: {len(STAGES)} stages of one region, bake {BAKE:g}s, a gate every {INTERVAL:g}s: "
        f"configured waits {waits:g}s; provider time = deploy call to rollout complete, summed over the stages"
    )
    ratios: list[float] = []
    bakes: list[float] = []
    ticks: list[int] = []
    async with await start_dev_server(dev_server_log_level="error") as env:
        await asyncio.sleep(1)
        for run in range(args.releases):
            wall, provider, release_bakes, release_ticks = await one_release(env.client, run)
            ratio = wall / (waits + provider)
            ratios.append(ratio)
            bakes += release_bakes
            ticks += release_ticks
            print(
                f"  release {run + 1}: wall {wall:6.2f}s   waits + provider {waits + provider:6.2f}s "
                f"(provider {provider:.2f}s)   {ratio:.3f}x",
                flush=True,
            )
    median = statistics.median(ratios)
    print(
        f"  bakes as lived (rollout complete -> promote), {len(bakes)} stages: median {statistics.median(bakes):.3f}s, "
        f"max {max(bakes):.3f}s for {BAKE:g}s configured ({statistics.median(bakes) / BAKE:.3f}x); evaluations per "
        f"bake {min(ticks)}-{max(ticks)} (every {INTERVAL:g}s): the bake counts the clock, so ticks add no drift"
    )
    print(
        f"  target: release wall time <= 1.02 x (configured waits + provider time): median {median:.3f}x "
        f"(max {max(ratios):.3f}x), {'met' if median <= 1.02 else 'NOT MET'}"
    )


if __name__ == "__main__":
    run_to_exit(main())
