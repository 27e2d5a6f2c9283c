"""Fault scenarios: a release of the shipped rings.yaml, one fault, and a record of how it ended.

Used by ``tests/system/test_faults.py`` (one run of each scenario, the record must
be perfect) and ``scripts/reliability-report`` (N runs of each, written up as
RELIABILITY.md). Each scenario is a function that takes a fresh
:class:`FaultStack` (a Temporal server, a task queue and a sandbox state
directory of its own, the ``ringctl`` CLI) and returns a :class:`FaultRecord`.
Everything runs as operators run it: the ``temporal`` server process,
``ringctl worker`` processes, ``ringctl`` commands; faults are SIGKILLs, races of
two ``ringctl`` processes started together, and scripted slow or hung provider
calls (:mod:`ringctl.providers.sandbox_scenario`).

A record is judged from the sandbox's own records (every deploy and rollback
call it applied, what each region runs now) and the release's audit as
``ringctl status --output json`` shows it, never from a worker's memory.
Recovery time is read from that audit too: from the fault to the first thing
the release did after it (an event, a state or region change; each gate
evaluation sets the state), by the workflow's own timestamps.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ringctl.core.binaries import find_binary
from ringctl.core.constants import workflow_id_for
from ringctl.core.planfile import load_plan
from ringctl.providers.sandbox import SandboxWorld, Scenario, write_scenario
from tests.support.cli_runs import Run, at_once
from tests.support.polling import wait_until
from tests.support.processes import SHIPPED_PLAN, Operator, TemporalServer, Worker, ring_of

SERVICE = "checkout"
VERSION = "7.0.0"
#: The shipped plan's waits, 10,000 times faster (the floors keep 1 s evaluations: 3-5 s per ring).
SPEED = "10000"
#: The sandbox's Deployment of ``checkout`` (``workload.deployment`` in rings.yaml).
DEPLOYMENT = "checkout"
#: The services of the shipped rings.yaml, whose releases a stack terminates when it closes.
SERVICES = ("checkout", "payments")
#: The goal every fault is held to; recovery is measured, and held to :data:`RECOVERY_BOUND` by the tests.
GOAL = "100 % of releases end correctly; 0 duplicate deploys, 0 lost deploys, 0 wrong promotions, 0 lost rollbacks"
#: Seconds from a fault to the release's next progress that the tests accept.
RECOVERY_BOUND = 20.0
#: What recovery from each fault waits for, quoted by the report when a run takes longer than :data:`RECOVERY_BOUND`.
_STICKY = (
    "; then up to 2 s until Temporal lets another worker take the release's workflow tasks "
    "(STICKY_QUEUE_TIMEOUT, ringctl/worker.py)"
)
RECOVERY_WAITS = {
    **{
        name: "a lost worker is noticed after the 5 s heartbeat timeout (REGION_CALL_HEARTBEAT) and a 1 s retry "
        "backoff" + _STICKY
        for name in (
            "kill-deploy",
            "kill-rollout",
            "kill-gates",
            "kill-rollback",
            "kill-after-deploy",
            "kill-after-rollback",
        )
    },
    **{name: "nothing is in flight" + _STICKY for name in ("kill-bake", "kill-approval", "kill-window")},
}
#: Generous limits for the waits of one scenario (a whole release takes about 25 s).
TO_JAPAN = 150.0
TO_END = 120.0

_PLAN = load_plan(SHIPPED_PLAN)
RINGS = tuple(ring.name for ring in _PLAN.stages)
REGIONS = {ring.name: tuple(region.name for region in ring.regions) for ring in _PLAN.stages}
ALL_REGIONS = tuple(region for ring in RINGS for region in REGIONS[ring])
MIN_APPROVALS = {ring.name: ring.approval.min_approvals for ring in _PLAN.stages if ring.approval.required}
BEFORE_JAPAN = RINGS[:-1]


# -- the stack a scenario runs on ---------------------------------------------------------


@dataclass
class FaultStack:
    """A Temporal server (shared), a task queue and sandbox state of the scenario's own, its workers, the CLI."""

    server: TemporalServer
    task_queue: str
    directory: Path
    cli: Operator
    workers: list[Worker] = field(default_factory=list)

    @classmethod
    def fresh(cls, server: TemporalServer, directory: Path) -> FaultStack:
        """A new task queue on ``server`` and an empty state directory under ``directory``."""
        task_queue = f"faults-{uuid.uuid4()}"
        (directory / "sandbox").mkdir(parents=True, exist_ok=True)
        return cls(server, task_queue, directory, Operator(server.address, task_queue))

    @property
    def state_dir(self) -> Path:
        """The sandbox providers' state, shared by every worker of the stack (like one fleet)."""
        return self.directory / "sandbox"

    def worker(self, *args: str) -> Worker:
        """Start another ``ringctl worker`` process on the stack's task queue."""
        log = self.directory / f"worker-{len(self.workers) + 1}.log"
        worker = Worker(
            address=self.server.address, task_queue=self.task_queue, state_dir=self.state_dir, log_path=log, args=args
        )
        self.workers.append(worker.start())
        return worker

    def close(self) -> None:
        """Stop the workers and terminate what the scenario left running on the server."""
        for worker in self.workers:
            worker.stop()
        for service in SERVICES:
            subprocess.run(
                [find_binary("temporal"), "workflow", "terminate", "--workflow-id", workflow_id_for(service)]
                + ["--address", self.server.address, "--reason", "fault scenario cleanup"],
                capture_output=True,
                timeout=20,
            )


# -- records ------------------------------------------------------------------------------


@dataclass
class FaultRecord:
    """How one run of a fault scenario ended, judged from the sandbox's records and the release's audit."""

    fault: str
    ended_correctly: bool
    duplicate_deploys: int
    lost_deploys: int
    wrong_promotions: int
    lost_rollbacks: int
    recovery_seconds: float | None
    detail: str

    def perfect(self, recovery_bound: float = RECOVERY_BOUND) -> bool:
        """Whether the run met the goal and recovered within ``recovery_bound`` seconds (when measured)."""
        return (
            self.ended_correctly
            and self.duplicate_deploys == self.lost_deploys == self.wrong_promotions == self.lost_rollbacks == 0
            and (self.recovery_seconds is None or self.recovery_seconds <= recovery_bound)
        )


@dataclass(frozen=True)
class Outcome:
    """How a release ends without the fault: its state, the rings it promotes, the rings it deploys (and may)."""

    state: str
    promoted: tuple[str, ...]
    deployed: tuple[str, ...]
    may_deploy: tuple[str, ...] = ()


#: Without humans the release stops at Japan's approval, every ring before it promoted.
AT_JAPAN = Outcome("awaiting_approval", BEFORE_JAPAN, BEFORE_JAPAN)
COMPLETED = Outcome("completed", RINGS, RINGS)
#: Canary's gates breach (``on_failure: rollback``): staging and canary are rolled back by the release itself.
CANARY_ROLLED_BACK = Outcome("rolled_back", ("staging",), ("staging", "canary"))


@dataclass(frozen=True)
class Fault:
    """A registered scenario: its key, a one-line title for the report, and the function that runs it."""

    name: str
    title: str
    run: Callable[[FaultStack], FaultRecord]


#: Every scenario, in the order the tests and the report run them.
FAULTS: dict[str, Fault] = {}


# -- one run of a scenario ----------------------------------------------------------------


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def _stamps(status: dict[str, Any]) -> Iterator[datetime]:
    """Every time the workflow recorded: events, state changes (also each gate evaluation's), region changes,
    approvals and overrides. Gate results' own times are the activity's clock, not the release's progress."""
    texts: list[str | None] = [status.get("updated_at")]
    texts += [event["at"] for event in status["events"]]
    for ring in status["rings"]:
        texts += [ring["started_at"], ring["finished_at"]]
        texts += [approval["at"] for approval in ring["approvals"]]
        texts += [(ring[key] or {}).get("at") for key in ("budget_override", "window_override")]
        texts += [region["since"] for region in ring["regions"]]
    for text in texts:
        if (parsed := _parse(text)) is not None:
            yield parsed


class Drill:
    """One run of one scenario: drives the release, injects the fault, then judges the outcome."""

    def __init__(self, stack: FaultStack, fault: str) -> None:
        self.stack = stack
        self.fault = fault
        self.expected = AT_JAPAN
        self.release: str | None = None
        self.image = f"registry.example.com/shop/{SERVICE}:{VERSION}"
        self.recovery: float | None = None
        self.killed_in: str | None = None
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.before = self.images()

    # -- observing ----------------------------------------------------------------------

    def images(self) -> dict[str, str]:
        """What every region of the plan runs now, from the sandbox."""
        world = SandboxWorld(state_dir=self.stack.state_dir)
        try:
            return {region: world.image(region, DEPLOYMENT) for region in ALL_REGIONS}
        finally:
            world.close()

    def calls(self) -> list[tuple[str, str, str | None, datetime]]:
        """The sandbox's record of applied deploys and rollbacks: (action, region, image, when)."""
        world = SandboxWorld(state_dir=self.stack.state_dir)
        try:
            return [(call.action, call.region, call.image, call.at) for call in world.calls]
        finally:
            world.close()

    def status(self) -> dict[str, Any] | None:
        """The release's status through ``ringctl status --output json``."""
        assert self.release is not None
        return self.stack.cli.status(self.release)

    def wait(self, ready: Callable[[dict[str, Any]], bool], what: str, timeout: float = TO_JAPAN) -> dict[str, Any]:
        """Poll the release's status until ``ready``."""
        assert self.release is not None
        return self.stack.cli.wait_for(self.release, ready, timeout, what)

    def _pending_activities(self) -> list[dict[str, Any]]:
        """The release's pending activities as the server sees them (``temporal workflow describe``)."""
        done = subprocess.run(
            [find_binary("temporal"), "workflow", "describe", "--workflow-id", workflow_id_for(SERVICE)]
            + ["--address", self.stack.server.address, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if done.returncode != 0:
            return []
        pending: list[dict[str, Any]] = json.loads(done.stdout).get("pendingActivities") or []
        return pending

    def pending(self) -> list[str]:
        """Activity types the server has started for the release and not seen finish."""
        return [str(activity["activityType"]["name"]) for activity in self._pending_activities()]

    def last_failure(self, activity_type: str) -> tuple[int, str] | None:
        """The next attempt and the last failure of a pending ``activity_type`` that failed before; else None."""
        for activity in self._pending_activities():
            failure = (activity.get("lastFailure") or {}).get("message")
            if activity["activityType"]["name"] == activity_type and failure:
                return int(activity.get("attempt", 1)), str(failure)
        return None

    def progress_after(self, since: float, timeout: float = 90) -> float:
        """Seconds from ``since`` (epoch) to the first thing the release recorded after it."""

        def later() -> float | None:
            status = self.status()
            if status is None:
                return None
            after = [stamp.timestamp() for stamp in _stamps(status) if stamp.timestamp() > since]
            return min(after) - since if after else None

        seconds: float = wait_until(later, timeout, "the release to make progress", every=0.3)
        return seconds

    # -- acting -------------------------------------------------------------------------

    def start(self, scenario: Scenario, plan: str = SHIPPED_PLAN) -> str:
        """Script the sandbox, start a worker, start the release as the pipeline."""
        write_scenario(self.stack.state_dir, scenario)
        self.stack.worker()
        self.release = self.stack.cli.start(SERVICE, VERSION, "--speed", SPEED, plan=plan)
        return self.release

    def retries(self, activity_type: str) -> list[str]:
        """Why each retried attempt of ``activity_type`` was needed: the last failures the history records."""
        done = subprocess.run(
            [find_binary("temporal"), "workflow", "show", "--workflow-id", workflow_id_for(SERVICE)]
            + ["--address", self.stack.server.address, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        events = json.loads(done.stdout).get("events", []) if done.returncode == 0 else []
        types = {
            e["eventId"]: e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
            for e in events
            if "activityTaskScheduledEventAttributes" in e
        }
        return [
            str((started.get("lastFailure") or {}).get("message", ""))
            for e in events
            if (started := e.get("activityTaskStartedEventAttributes"))
            and types.get(started["scheduledEventId"]) == activity_type
            and int(started.get("attempt", 1)) > 1
        ]

    def kill_worker(self, expect_pending: str | None = None) -> float:
        """SIGKILL the newest worker, after checking the server has ``expect_pending`` in flight; when (epoch)."""
        pending = self.pending()
        if expect_pending is not None and expect_pending not in pending:
            self.problems.append(f"the kill missed the phase: {expect_pending} was not in flight ({pending})")
        self.notes.append(f"killed with {', '.join(pending) or 'no activity'} in flight")
        self.killed_in = expect_pending
        self.stack.workers[-1].kill()
        return time.time()

    def command(self, *args: str, actor: str, within: float = 60) -> Run:
        """``ringctl ARGS`` as ``actor``, again while it answers "not applied" (safe to retry).

        That is exit 4, and also exit 1 when the workflow refused the command as expired (it reached a
        worker after its deadline: "it was not applied"), which a careful operator retries too.
        """
        deadline = time.monotonic() + within
        answers: list[str] = []
        while True:
            done = self.stack.cli.run(*args, actor=actor)
            expired = done.returncode == 1 and "it was not applied" in done.stderr
            if (done.returncode != 4 and not expired) or time.monotonic() > deadline:
                break
            answers.append(f"exit {done.returncode}" + (" (refused as expired)" if expired else ""))
        if answers:
            self.notes.append(f"{args[0]} not applied before a worker took it: {', '.join(answers)}")
        return done

    def expect_ok(self, done: Run, what: str) -> None:
        """Record a problem unless the command succeeded."""
        if done.returncode != 0:
            self.problems.append(f"{what}: exit {done.returncode}: {done.stderr.strip()}")

    def to_japan(self) -> dict[str, Any]:
        """Wait until the release waits for Japan's approval."""
        return self.wait(lambda s: s["state"] == "awaiting_approval" and s["current_ring"] == "japan", "Japan")

    def finish_japan(self, approvers: tuple[str, ...] = ("alice", "bob")) -> dict[str, Any]:
        """Approve Japan as ``approvers``, override its window if it is closed now (as carol), wait for the end."""
        assert self.release is not None
        for manager in approvers:
            done = self.command("approve", self.release, "--ring", "japan", "--comment", "fault drill", actor=manager)
            self.expect_ok(done, f"approve as {manager}")
        return self.open_window_and_end()

    def open_window_and_end(self) -> dict[str, Any]:
        """Override Japan's window when it is closed now (business hours, holidays), then wait for the end."""
        assert self.release is not None
        status = self.wait(lambda s: s["state"] != "awaiting_approval", "Japan's approvals to count", 30)
        if status["state"] == "awaiting_window":
            done = self.command(
                "approve",
                self.release,
                "--ring",
                "japan",
                "--override-window",
                "--reason",
                "fault drill",
                actor="carol",
            )
            self.expect_ok(done, "override Japan's window")
        return self.wait(lambda s: s["state"] in ("completed", "rolled_back", "failed", "halted"), "the end", TO_END)

    # -- judging ------------------------------------------------------------------------

    def judge(self) -> FaultRecord:
        """The record of this run, from the sandbox's records and the release's audit."""
        expected = self.expected
        status = self.status() if self.release is not None else None
        if self.killed_in is not None and status is not None:
            why = sorted(set(self.retries(self.killed_in))) or ["nothing: not retried"]
            self.notes.append(f"{self.killed_in} retried after: {', '.join(why)}")
        calls, now = self.calls(), self.images()
        deploys = Counter(region for action, region, image, _ in calls if action == "deploy" and image == self.image)
        rollbacks = Counter(region for action, region, _, _ in calls if action == "rollback")
        problems = list(self.problems)  # what the scenario found wrong: the release did not end correctly
        counted: list[str] = []  # duplicates, losses, wrong promotions: counted in their own columns
        stray = sorted(
            f"{image} in {region}" for action, region, image, _ in calls if action == "deploy" and image != self.image
        )
        duplicates = sum(n - 1 for n in deploys.values()) + len(stray)
        if duplicates:
            twice = sorted(region for region, n in deploys.items() if n > 1)
            counted.append(f"duplicate deploys: {twice + stray}")
        if status is None:
            problems.append("the release's status could not be read, so nothing else could be judged")
            return self._record(False, duplicates, 0, 0, 0, problems + counted)

        events = status["events"]
        undo = {record["target"]["region"]: record for record in status["undo_records"]}
        # What the release claims it deployed (a deploy event, an undo record, a promoted ring) must be in the
        # sandbox, and what the sandbox applied must be known to the release (else no rollback would undo it).
        promoted_rings = {e["ring"] for e in events if e["action"] == "promote"}
        claimed = set(undo) | {e["region"] for e in events if e["action"] == "deploy"}
        claimed |= {region for ring in promoted_rings for region in REGIONS[ring]}
        rolled_back = expected.state == "rolled_back" or status["state"] == "rolled_back"
        lost: set[str] = {region for region in claimed if deploys[region] == 0}
        lost |= {region for region in deploys if not (region in undo and undo[region]["changed"])}
        if not rolled_back:
            lost |= {region for region in claimed if now[region] != self.image}
        if lost:
            counted.append(f"lost deploys: {sorted(lost)}")
        required = {region for ring in expected.deployed for region in REGIONS[ring]}
        allowed = required | {region for ring in expected.may_deploy for region in REGIONS[ring]}
        if missing := required - set(deploys):
            problems.append(f"never deployed: {sorted(missing)}")
        if beyond := set(deploys) - allowed:
            problems.append(f"deployed beyond the expected rings: {sorted(beyond)}")

        wrong = self._wrong_promotions(status, deploys)
        if wrong:
            counted.append(f"wrong promotions: {wrong}")

        lost_rollbacks: set[str] = set()
        if rolled_back:
            lost_rollbacks = {region for region in deploys if now[region] != self.before[region]}
            twice = sorted(region for region, n in rollbacks.items() if n > 1)
            if twice:
                problems.append(f"rolled back more than once: {twice}")
        else:
            for region, record in undo.items():
                if record["changed"] and record["previous_image"] != self.before[region]:
                    lost_rollbacks.add(region)  # a rollback would restore the wrong image
        if lost_rollbacks:
            counted.append(f"lost rollbacks (not restored, or not restorable): {sorted(lost_rollbacks)}")

        promoted = list(dict.fromkeys(e["ring"] for e in events if e["action"] == "promote"))
        if status["state"] != expected.state:
            problems.append(f"ended {status['state']} ({status['reason']}), expected {expected.state}")
        if tuple(promoted) != expected.promoted:
            problems.append(f"promoted {promoted}, expected {list(expected.promoted)}")
        if expected.state == "awaiting_approval" and status["current_ring"] != "japan":
            problems.append(f"waiting at {status['current_ring']}, expected Japan")
        ended = not problems
        return self._record(ended, duplicates, len(lost), len(wrong), len(lost_rollbacks), problems + counted, status)

    def _wrong_promotions(self, status: dict[str, Any], deploys: Counter[str]) -> list[str]:
        """Promote events that should not have happened: twice, out of order, unexpected, after a rollback or
        abort, of a ring not deployed everywhere, or of a guarded ring without its approvals."""
        events = status["events"]
        stop = next(
            (i for i, e in enumerate(events) if e["action"] in ("rollback", "abort", "rollback_start")), len(events)
        )
        wrong: list[str] = []
        seen: set[str] = set()
        for index, event in enumerate(events):
            if event["action"] != "promote":
                continue
            ring = event["ring"]
            why = []
            if ring in seen:
                why.append("twice")
            if ring not in self.expected.promoted:
                why.append("unexpected")
            if seen and RINGS.index(ring) < max(RINGS.index(r) for r in seen):
                why.append("out of order")
            if index > stop:
                why.append("after a rollback or abort")
            if any(deploys[region] == 0 for region in REGIONS[ring]):
                why.append("not deployed everywhere")
            if ring in MIN_APPROVALS and len(ring_of(status, ring)["approvals"]) < MIN_APPROVALS[ring]:
                why.append("without its approvals")
            if why:
                wrong.append(f"{ring} ({', '.join(why)})")
            seen.add(ring)
        return wrong

    def _record(
        self,
        ended: bool,
        duplicates: int,
        lost: int,
        wrong: int,
        lost_rollbacks: int,
        problems: list[str],
        status: dict[str, Any] | None = None,
    ) -> FaultRecord:
        detail = "; ".join(problems) if problems else "; ".join([_describe(self.expected), *self.notes])
        return FaultRecord(self.fault, ended, duplicates, lost, wrong, lost_rollbacks, self.recovery, detail)


def _describe(outcome: Outcome) -> str:
    """What a release that ended as ``outcome`` did, in a few words."""
    if outcome.state == "awaiting_approval":
        return f"promoted {len(outcome.promoted)} rings, waits for Japan's approval"
    if outcome.state == "rolled_back":
        return f"rolled back ({', '.join(outcome.deployed)})"
    return outcome.state


def scenario(name: str, title: str) -> Callable[[Callable[[Drill], None]], Callable[[FaultStack], FaultRecord]]:
    """Register a scenario: ``body`` drives a :class:`Drill`; whatever it did is judged, also when it gives up."""

    def register(body: Callable[[Drill], None]) -> Callable[[FaultStack], FaultRecord]:
        @functools.wraps(body)
        def run(stack: FaultStack) -> FaultRecord:
            drill = Drill(stack, name)
            try:
                body(drill)
            except Exception as exc:  # judged as far as it got: the record says where it gave up
                drill.problems.append(f"gave up: {type(exc).__name__}: {exc}".splitlines()[0])
            return drill.judge()

        FAULTS[name] = Fault(name, title, run)
        return run

    return register


# -- the worker SIGKILLed in each phase ----------------------------------------------------


def _take_over(drill: Drill, killed: float, heal: Scenario | None = None) -> None:
    """After a kill: script the sandbox healthy again (``heal``, else no faults), start a second worker, time the
    recovery."""
    write_scenario(drill.stack.state_dir, heal or Scenario())
    drill.stack.worker()
    drill.recovery = drill.progress_after(killed)


@scenario("kill-deploy", "worker SIGKILLed during deploy (two na-eu deploys in flight)")
def worker_killed_during_deploy(drill: Drill) -> None:
    """Slow na-eu's deploys, kill the worker while two run, take over; each region gets the image once."""
    drill.start(Scenario())
    drill.wait(lambda s: s["current_ring"] == "canary" and s["state"] == "baking", "canary to bake")
    write_scenario(drill.stack.state_dir, Scenario(delays={"deploy": 4}))
    drill.wait(
        lambda s: [r["state"] for r in ring_of(s, "na-eu")["regions"]].count("deploying") == 2, "two na-eu deploys"
    )
    killed = drill.kill_worker("deploy")
    _take_over(drill, killed)
    drill.to_japan()
    early = [r for action, r, _, at in drill.calls() if action == "deploy" and at.timestamp() < killed]
    if set(early) & set(REGIONS["na-eu"]):
        drill.problems.append(f"the kill missed the deploys: {early} were applied before it")


@scenario("kill-rollout", "worker SIGKILLed during the rollout wait (staging)")
def worker_killed_during_rollout_wait(drill: Drill) -> None:
    """Slow the rollout poll, kill the worker while staging verifies, take over."""
    drill.start(Scenario(delays={"rollout": 4}))
    drill.wait(lambda s: ring_of(s, "staging")["regions"][0]["state"] == "verifying", "staging's rollout wait")
    killed = drill.kill_worker("wait_rollout")
    _take_over(drill, killed)
    drill.to_japan()


@scenario("kill-bake", "worker SIGKILLed during the bake (canary)")
def worker_killed_during_bake(drill: Drill) -> None:
    """Kill the worker while canary bakes (between and during its 1 s evaluations), take over."""
    drill.start(Scenario())
    drill.wait(lambda s: s["current_ring"] == "canary" and s["state"] == "baking", "canary to bake")
    killed = drill.kill_worker()
    _take_over(drill, killed)
    drill.to_japan()


@scenario("kill-gates", "worker SIGKILLed during a gate evaluation (staging)")
def worker_killed_during_gate_evaluation(drill: Drill) -> None:
    """Slow every measurement to 3 s, kill the worker mid-evaluation in staging's bake, take over."""
    drill.start(Scenario(delays={"gates": 3}))
    drill.wait(lambda s: s["current_ring"] == "staging" and s["state"] == "baking", "staging to bake")
    wait_until(lambda: "evaluate_gates" in drill.pending(), 30, "a gate evaluation in flight", every=0.1)
    killed = drill.kill_worker("evaluate_gates")
    _take_over(drill, killed)
    drill.to_japan()


@scenario("kill-approval", "worker SIGKILLed during Japan's approval wait")
def worker_killed_during_approval_wait(drill: Drill) -> None:
    """Kill the worker while Japan waits for two approvals; alice and bob approve through the second worker."""
    drill.expected = COMPLETED
    drill.start(Scenario())
    drill.to_japan()
    killed = drill.kill_worker()
    drill.stack.worker()
    assert drill.release is not None
    done = drill.command("approve", drill.release, "--ring", "japan", "--comment", "fault drill", actor="alice")
    drill.expect_ok(done, "approve as alice")
    drill.recovery = drill.progress_after(killed)
    drill.finish_japan(("bob",))


@scenario("kill-window", "worker SIGKILLed during a window wait (staging frozen), then overridden")
def worker_killed_during_window_wait(drill: Drill) -> None:
    """A plan with a freeze on staging covering now; kill the worker while staging waits; override the window."""
    plan = yaml.safe_load(Path(SHIPPED_PLAN).read_text())
    now = datetime.now(UTC)
    plan["staging"]["freezes"] = [
        {
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
            "reason": "drill",
        }
    ]
    frozen = drill.stack.directory / "frozen-staging.yaml"
    frozen.write_text(yaml.safe_dump(plan))
    release = drill.start(Scenario(), plan=str(frozen))
    drill.wait(lambda s: s["state"] == "awaiting_window", "staging's window wait")
    killed = drill.kill_worker()
    drill.stack.worker()
    done = drill.command(
        "approve", release, "--ring", "staging", "--override-window", "--reason", "fault drill", actor="alice"
    )
    drill.expect_ok(done, "override staging's window")
    drill.recovery = drill.progress_after(killed)
    drill.to_japan()


@scenario("kill-rollback", "worker SIGKILLed during a rollback (canary breached)")
def worker_killed_during_rollback(drill: Drill) -> None:
    """Canary breaches its gates and rolls back, slowly; kill the worker mid-rollback, take over."""
    drill.expected = CANARY_ROLLED_BACK
    breach = {"us-west-2": {"*"}}
    drill.start(Scenario(bad_gates=breach, delays={"rollback": 3}))
    drill.wait(
        lambda s: any(r["state"] == "rolling_back" for ring in s["rings"] for r in ring["regions"]), "a rollback"
    )
    killed = drill.kill_worker("rollback")
    _take_over(drill, killed, Scenario(bad_gates=breach))
    drill.wait(lambda s: s["state"] in ("rolled_back", "failed", "completed"), "the rollback to end", TO_END)


# -- a kill right after the provider applied the change ----------------------------------


def _wait_for_call(drill: Drill, action: str, what: str) -> None:
    """Wait until the sandbox has applied a call of ``action`` for this release (its own record)."""
    wait_until(lambda: any(call[0] == action for call in drill.calls()), 60, what, every=0.1)


@scenario("kill-after-deploy", "worker SIGKILLed after a deploy was applied, before it reported back")
def worker_killed_after_deploy_applied(drill: Drill) -> None:
    """The deploy's answer is late (``after_deploy``); kill the worker in that gap; the retry must not redeploy
    and must keep the undo record of the first attempt."""
    drill.start(Scenario(delays={"after_deploy": 4}))
    _wait_for_call(drill, "deploy", "staging's deploy to be applied")
    killed = drill.kill_worker("deploy")
    _take_over(drill, killed)
    drill.to_japan()


@scenario("kill-after-rollback", "worker SIGKILLed after a rollback was applied, before it reported back")
def worker_killed_after_rollback_applied(drill: Drill) -> None:
    """Canary breaches; a rollback's answer is late (``after_rollback``); kill the worker in that gap."""
    drill.expected = CANARY_ROLLED_BACK
    breach = {"us-west-2": {"*"}}
    drill.start(Scenario(bad_gates=breach, delays={"after_rollback": 4}))
    _wait_for_call(drill, "rollback", "a rollback to be applied")
    killed = drill.kill_worker("rollback")
    _take_over(drill, killed, Scenario(bad_gates=breach))
    drill.wait(lambda s: s["state"] in ("rolled_back", "failed", "completed"), "the rollback to end", TO_END)


# -- the Temporal server SIGKILLed ---------------------------------------------------------


@scenario("kill-server", "Temporal server SIGKILLed mid-bake, restarted on its database and port")
def server_killed_mid_bake(drill: Drill) -> None:
    """Kill the server while canary bakes; start it again on the same --db-filename and port; the same worker
    carries on."""
    drill.start(Scenario())
    drill.wait(lambda s: s["current_ring"] == "canary" and s["state"] == "baking", "canary to bake")
    server = drill.stack.server
    port, process = server.port, server.process
    server.stop(signal.SIGKILL)
    killed = time.time()
    assert process is not None and process.poll() is not None, "the server survived SIGKILL"
    server.start()
    if server.port != port:
        drill.problems.append(f"the server came back on port {server.port}, not {port}")
    drill.notes.append(f"server answering again after {time.time() - killed:.1f} s")
    drill.recovery = drill.progress_after(killed)
    drill.to_japan()
    worker = drill.stack.workers[-1]
    if worker.process is None or worker.process.poll() is not None:
        drill.problems.append("the worker exited while the server was down")


# -- races: two ringctl processes started at the same instant ------------------------------


@scenario("race-start", "race: two `release start` of one service at once")
def race_two_starts(drill: Drill) -> None:
    """Two pipelines start checkout 7.0.0 and 7.0.1 at once: one wins, the other is refused naming it."""
    write_scenario(drill.stack.state_dir, Scenario())
    drill.stack.worker()
    versions = (VERSION, "7.0.1")
    starts = at_once(
        drill.stack.server.address,
        *(
            (
                ("release", "start", "--service", SERVICE, "--version", v, "--task-queue", drill.stack.task_queue)
                + ("--speed", SPEED, "--plan", SHIPPED_PLAN),
                "ci-pipeline",
            )
            for v in versions
        ),
    )
    codes = [done.returncode for done in starts]
    if sorted(codes) != [0, 1]:
        drill.problems.append(f"exit codes {codes}, expected one 0 and one 1: {[d.stderr.strip() for d in starts]}")
        return
    winner, loser = (starts[0], starts[1]) if codes[0] == 0 else (starts[1], starts[0])
    drill.release = winner.stdout.strip()
    drill.image = f"registry.example.com/shop/{SERVICE}:{drill.release.partition('@')[2]}"
    if f"already has a release in flight: {drill.release}" not in loser.stderr:
        drill.problems.append(f"the refusal does not name {drill.release}: {loser.stderr.strip()}")
    drill.notes.append(f"{drill.release} won; the other: {loser.stderr.strip().partition(';')[0]}")
    drill.to_japan()


@scenario("race-rollback-approve", "race: rollback and the second approval of Japan at once")
def race_rollback_and_approve(drill: Drill) -> None:
    """Alice has approved Japan; bob's approval and on-call's rollback arrive together: the rollback wins."""
    drill.expected = Outcome("rolled_back", BEFORE_JAPAN, BEFORE_JAPAN, may_deploy=("japan",))  # window open
    release = drill.start(Scenario())
    drill.to_japan()
    drill.expect_ok(drill.command("approve", release, "--ring", "japan", actor="alice"), "approve as alice")
    approve, rollback = at_once(
        drill.stack.server.address,
        (("approve", release, "--ring", "japan", "--comment", "go"), "bob"),
        (("rollback", release, "--reason", "fault drill: bad release"), "oncall"),
    )
    if rollback.returncode != 0 or "rollback started" not in rollback.stdout:
        drill.problems.append(f"rollback: exit {rollback.returncode}: {rollback.stderr.strip()}")
    plain = "rolling_back" in approve.stderr or "has ended (rolled_back)" in approve.stderr
    if approve.returncode not in (0, 1) or (approve.returncode == 1 and not plain):
        drill.problems.append(f"approve: exit {approve.returncode}: {approve.stderr.strip()}")
    answer = approve.stderr.strip().rpartition("refused: ")[2]
    drill.notes.append("approval " + ("accepted first" if approve.returncode == 0 else f"refused: {answer}"))
    final = drill.wait(lambda s: s["state"] in ("rolled_back", "failed", "completed"), "the rollback", TO_END)
    actions = [e["action"] for e in final["events"]]
    if "approve" in actions[actions.index("rollback") :]:
        drill.problems.append("an approval was accepted after the rollback")


@scenario("race-rollbacks", "race: two rollbacks at once (canary baking)")
def race_two_rollbacks(drill: Drill) -> None:
    """On-call and alice roll back at once: exactly one rollback starts, the other is refused, one runs."""
    drill.expected = CANARY_ROLLED_BACK
    release = drill.start(Scenario())
    drill.wait(lambda s: s["current_ring"] == "canary" and s["state"] == "baking", "canary to bake")
    results = at_once(
        drill.stack.server.address,
        (("rollback", release, "--reason", "fault drill: on-call"), "oncall"),
        (("rollback", release, "--reason", "fault drill: alice"), "alice"),
    )
    started = [done for done in results if done.returncode == 0 and "rollback started" in done.stdout]
    refused = [done for done in results if done.returncode == 1]
    if len(started) != 1 or len(refused) != 1:
        drill.problems.append(f"exit codes {[d.returncode for d in results]}: {[d.stderr.strip() for d in results]}")
    elif "already rolling_back" not in refused[0].stderr and "already rolled_back" not in refused[0].stderr:
        drill.problems.append(f"the refusal is not plain: {refused[0].stderr.strip()}")
    else:
        winner = ("oncall", "alice")[results.index(started[0])]
        drill.notes.append(f"{winner}'s rollback started, the other's refused: {refused[0].stderr.strip()}")
    final = drill.wait(lambda s: s["state"] in ("rolled_back", "failed", "completed"), "the rollback", TO_END)
    actions = Counter(e["action"] for e in final["events"])
    if (actions["rollback"], actions["rollback_start"], actions["rolled_back"]) != (1, 1, 1):
        drill.problems.append(f"rollback events: {dict(actions)}")


@scenario("race-approvers", "race: alice and bob approve Japan (2 of M) at once")
def race_two_approvers(drill: Drill) -> None:
    """Both approvals are recorded; Japan proceeds once."""
    drill.expected = COMPLETED
    release = drill.start(Scenario())
    drill.to_japan()
    results = at_once(
        drill.stack.server.address,
        (("approve", release, "--ring", "japan", "--comment", "go"), "alice"),
        (("approve", release, "--ring", "japan", "--comment", "go"), "bob"),
    )
    for manager, done in zip(("alice", "bob"), results, strict=True):
        drill.expect_ok(done, f"approve as {manager}")
    final = drill.open_window_and_end()
    approvers = sorted(a["approver"] for a in ring_of(final, "japan")["approvals"])
    if approvers != ["alice", "bob"]:
        drill.problems.append(f"Japan's approvals: {approvers}")
    waits = [e for e in final["events"] if e["action"] == "await_approval" and e["ring"] == "japan"]
    if len(waits) != 1:
        drill.problems.append(f"Japan waited for approval {len(waits)} times")
    drill.notes.append(f"both approvals recorded ({', '.join(approvers)}), Japan deployed and promoted once")


# -- a provider call that hangs --------------------------------------------------------------

#: Seconds the hung-provider scenario's calls wait for an answer (the sandbox's request timeout).
HUNG_REQUEST_TIMEOUT = 2.0


@scenario("hung-provider", "provider call hangs (before and after applying), worker stays up")
def provider_call_hangs(drill: Drill) -> None:
    """Staging's deploy hangs before applying, then its retry hangs after applying (its answer never comes).

    A hung call in a live worker is not a lost worker: the activity keeps
    heartbeating, so Temporal's heartbeat timeout never fires. What bounds it is
    the provider client's request timeout (the Kubernetes client's 30 s read
    timeout; here the sandbox's, 2 s): the call fails as transient, Temporal
    retries it with backoff, and once the provider answers again the region is
    deployed exactly once, with the undo record of the attempt that applied it.
    Each step waits for what the hang itself causes, never for a short-lived state.
    """
    region = "staging-us-east-1"
    drill.start(Scenario(delays={"deploy": 600}, request_timeout=HUNG_REQUEST_TIMEOUT))
    drill.wait(lambda s: ring_of(s, "staging")["regions"][0]["state"] == "deploying", "staging's deploy")
    wait_until(lambda: drill.last_failure("deploy"), 30, "the hung deploy to time out")
    write_scenario(drill.stack.state_dir, Scenario(delays={"after_deploy": 600}, request_timeout=HUNG_REQUEST_TIMEOUT))
    applied = wait_until(lambda: _applied_at(drill, region), 30, "a retried deploy to apply")
    applying = (drill.last_failure("deploy") or (1, ""))[0]
    wait_until(
        lambda: (drill.last_failure("deploy") or (0, ""))[0] > applying, 30, "the applied deploy's answer to be lost"
    )
    write_scenario(drill.stack.state_dir, Scenario())  # the provider answers again
    status = drill.wait(lambda s: _deployed_at(s, region) is not None, "staging's deploy", 60)
    drill.recovery = (_deployed_at(status, region) - applied).total_seconds()
    drill.to_japan()
    retried = drill.retries("deploy")
    timeouts = [why for why in retried if region in why and "request timeout" in why]
    if not timeouts:  # the history keeps the last failure of the attempt that succeeded
        drill.problems.append(f"{region}'s hung deploy was not retried after its request timeout: {retried}")
    else:
        drill.notes.append(
            f"{region}: hung before applying, then after; each attempt timed out after {HUNG_REQUEST_TIMEOUT:g} s, "
            "retried, deployed once"
        )


def _applied_at(drill: Drill, region: str) -> datetime | None:
    """When the sandbox applied the release's first deploy to ``region``, if it has."""
    return next((at for action, where, _, at in drill.calls() if action == "deploy" and where == region), None)


def _deployed_at(status: dict[str, Any], region: str) -> Any:
    """When the release recorded ``region``'s deploy (its ``deploy`` event), or None."""
    return next((_parse(e["at"]) for e in status["events"] if e["action"] == "deploy" and e["region"] == region), None)
