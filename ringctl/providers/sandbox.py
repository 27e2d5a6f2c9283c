"""A simulation of regions and metrics, for the demo, tests and crash tests of orchestration logic.

Nothing here touches a cluster or Prometheus. A :class:`SandboxWorld` keeps every
simulated workload (one service in one region: kube context, namespace,
deployment) with its revision history in SQLite: in memory by default, or in
``<state_dir>/sandbox.db`` so that a restarted worker, or a test in another
process, sees what was deployed. Health is scripted by a :class:`Scenario` (comparison gates count
:data:`SANDBOX_RPS` requests a second),
given in memory (tests may change it while a release runs) or read from
``<state_dir>/scenario.json`` (see :func:`write_scenario`), re-read when that
file changes; :mod:`ringctl.providers.sandbox_scenario` defines both, and the scripted
delays and hung calls (re-exported here).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from ringctl.core.durations import parse_duration
from ringctl.core.plan import Comparison, Gate, GateKind, Region
from ringctl.core.query import render_query
from ringctl.core.versions import image_tag
from ringctl.providers.models import (
    DeployInput,
    Measurement,
    RollbackResult,
    RolloutState,
    RolloutStatus,
    Series,
    Target,
    UndoRecord,
)
from ringctl.providers.sandbox_scenario import (
    ANY_VERSION,
    SCENARIO_FILE,
    SLEEP_STEP,
    DelayKind,
    Scenario,
    sleep_cancellably,
    take,
    write_scenario,
)

__all__ = [
    "ANY_VERSION",
    "SCENARIO_FILE",
    "SLEEP_STEP",
    "STATE_DB",
    "DelayKind",
    "SandboxCall",
    "SandboxDeployTarget",
    "SandboxMetricsSource",
    "SandboxWorld",
    "Scenario",
    "sleep_cancellably",
    "write_scenario",
]

log = structlog.get_logger(__name__)

#: The database of a world kept in a state directory.
STATE_DB = "sandbox.db"
#: Requests per second of every simulated version in every region, for comparison gates: 1 % of them
#: fail, 4 % where the scenario breaches the gates (a 4x regression).
SANDBOX_RPS = 10_000.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workloads (
    kube_context TEXT NOT NULL, namespace TEXT NOT NULL, deployment TEXT NOT NULL,
    region TEXT NOT NULL, image TEXT NOT NULL, version TEXT NOT NULL, revision INTEGER NOT NULL,
    polls INTEGER NOT NULL, release_id TEXT, previous_image TEXT, previous_revision INTEGER,
    PRIMARY KEY (kube_context, namespace, deployment));
CREATE TABLE IF NOT EXISTS revisions (
    kube_context TEXT NOT NULL, namespace TEXT NOT NULL, deployment TEXT NOT NULL,
    revision INTEGER NOT NULL, image TEXT NOT NULL,
    PRIMARY KEY (kube_context, namespace, deployment, revision));
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, region TEXT NOT NULL,
    workload TEXT NOT NULL, image TEXT, at TEXT NOT NULL);
"""


@dataclass
class SandboxCall:
    """One recorded provider call that changed a workload, for tests and the demo's narration."""

    action: str
    region: str
    image: str | None
    at: datetime
    #: ``kube_context/namespace/deployment``.
    workload: str = ""


@dataclass
class _Workload:
    region: str
    image: str
    version: str
    revision: int
    polls: int = 0
    release_id: str | None = None
    previous_image: str | None = None
    previous_revision: int | None = None


def _key(target: Target) -> tuple[str, str, str]:
    return (target.kube_context, target.namespace, target.deployment)


def _version(image: str) -> str:
    """The version a workload running ``image`` reports: its tag, or the whole reference for a digest."""
    return image_tag(image) or image


class SandboxWorld:
    """The simulated workloads and the scenario, shared by the sandbox deploy target and metrics source.

    With ``state_dir`` (created if missing) workloads live in ``<state_dir>/sandbox.db``
    and survive the process; without, in memory. Thread-safe: one connection
    behind a lock, and every change is one transaction.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        initial_image: str = "sandbox/app:0",
        *,
        state_dir: str | Path | None = None,
    ) -> None:
        self._scenario = scenario if scenario is not None else Scenario()
        self._initial_image = initial_image
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._lock = threading.Lock()
        self._scenario_lock = threading.Lock()
        self._loaded: tuple[tuple[int, int, int], Scenario] | None = None
        database = ":memory:"
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            database = str(self.state_dir / STATE_DB)
        self._db = sqlite3.connect(database, timeout=30, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers in other processes never block the worker
            self._db.execute("PRAGMA synchronous=NORMAL")  # committed transactions survive a killed process
            self._db.executescript(_SCHEMA)

    @property
    def scenario(self) -> Scenario:
        """The scenario in force.

        ``<state_dir>/scenario.json`` when it exists (re-read when it changes; an
        invalid file is logged once and means a healthy scenario), else the
        scenario given to the constructor.
        """
        if self.state_dir is None:
            return self._scenario
        path = self.state_dir / SCENARIO_FILE
        try:
            stat = path.stat()
        except OSError:
            return self._scenario
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._scenario_lock:
            if self._loaded is None or self._loaded[0] != key:
                try:
                    loaded = Scenario.from_json(path.read_bytes())
                except (OSError, ValueError) as exc:
                    log.warning("invalid sandbox scenario; using a healthy one", path=str(path), error=str(exc))
                    loaded = Scenario()
                self._loaded = (key, loaded)
            return self._loaded[1]

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        self._scenario = scenario

    def image(self, region: str, deployment: str | None = None) -> str:
        """The image running in ``region`` now (name the ``deployment`` if several run there)."""
        return self._current(region, deployment).image

    def version(self, region: str, deployment: str | None = None) -> str:
        """The version running in ``region`` now (name the ``deployment`` if several run there)."""
        return self._current(region, deployment).version

    @property
    def calls(self) -> list[SandboxCall]:
        """Every deploy and rollback that changed a workload, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT action, region, image, at, workload FROM calls ORDER BY id").fetchall()
        return [SandboxCall(a, r, i, datetime.fromisoformat(at), w) for a, r, i, at, w in rows]

    def pause(self, kind: DelayKind, region: str = "") -> None:
        """Take as long as the scenario's delay for ``kind``; past its request timeout, ``TransientError``."""
        take(self.scenario, kind, region)

    def close(self) -> None:
        """Close the database; the world is unusable afterwards. Closing twice is fine."""
        with self._lock:
            self._db.close()

    def _current(self, region: str, deployment: str | None) -> _Workload:
        query = "SELECT region, image, version, revision, deployment FROM workloads WHERE region = ?"
        with self._lock:
            rows = self._db.execute(query, (region,)).fetchall()
        rows = [row for row in rows if deployment is None or row[4] == deployment]
        if len(rows) > 1:
            raise ValueError(f"{region} runs {sorted(row[4] for row in rows)}; name the deployment")
        if not rows:
            return _Workload(region, self._initial_image, _version(self._initial_image), 1)
        return _Workload(*rows[0][:4])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _load(self, db: sqlite3.Connection, target: Target) -> _Workload:
        row = db.execute(
            "SELECT region, image, version, revision, polls, release_id, previous_image, previous_revision "
            "FROM workloads WHERE kube_context = ? AND namespace = ? AND deployment = ?",
            _key(target),
        ).fetchone()
        if row is not None:
            return _Workload(*row)
        workload = _Workload(target.region, self._initial_image, _version(self._initial_image), 1)
        self._store(db, target, workload)
        db.execute("INSERT INTO revisions VALUES (?, ?, ?, ?, ?)", (*_key(target), 1, workload.image))
        return workload

    def _store(self, db: sqlite3.Connection, target: Target, workload: _Workload, action: str | None = None) -> None:
        """Save ``workload``; with ``action``, also its new revision and the call that made it."""
        w = workload
        db.execute(
            "INSERT OR REPLACE INTO workloads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_key(target), w.region, w.image, w.version, w.revision, w.polls)
            + (w.release_id, w.previous_image, w.previous_revision),
        )
        if action is not None:
            db.execute("INSERT INTO revisions VALUES (?, ?, ?, ?, ?)", (*_key(target), w.revision, w.image))
            db.execute(
                "INSERT INTO calls (action, region, workload, image, at) VALUES (?, ?, ?, ?, ?)",
                (action, target.region, "/".join(_key(target)), w.image, datetime.now(UTC).isoformat()),
            )

    def _revision(self, db: sqlite3.Connection, target: Target, revision: int) -> str | None:
        row = db.execute(
            "SELECT image FROM revisions WHERE kube_context = ? AND namespace = ? AND deployment = ? AND revision = ?",
            (*_key(target), revision),
        ).fetchone()
        return str(row[0]) if row else None


class SandboxDeployTarget:
    """Deploy target over a :class:`SandboxWorld` (a simulation, not a cluster)."""

    def __init__(self, world: SandboxWorld) -> None:
        self.world = world

    def deploy(self, request: DeployInput) -> UndoRecord:
        """Switch the simulated workload to ``request.image``; a no-op if it already runs it.

        Like the Kubernetes target, a retry of a deploy an earlier attempt of the
        same release applied returns that attempt's undo record (``changed=True``).
        """
        target = request.target
        self.world.pause("deploy", target.region)
        with self.world._transaction() as db:
            now = self.world._load(db, target)
            if now.image == request.image:
                applied = (now.release_id, now.version) == (request.release_id, request.version)
                if applied and now.previous_image not in (None, request.image):  # an earlier attempt's response lost
                    return UndoRecord.of(
                        request,
                        now.previous_image,
                        now.previous_revision,
                        changed=True,
                        previous_version=image_tag(now.previous_image or ""),
                    )
                before = self.world._revision(db, target, now.revision - 1)
                return UndoRecord.of(
                    request,
                    before,
                    now.revision - 1 if before else None,
                    changed=False,
                    previous_version=image_tag(before) if before else None,
                )
            new = _Workload(
                target.region,
                request.image,
                request.version,
                now.revision + 1,
                release_id=request.release_id,
                previous_image=now.image,
                previous_revision=now.revision,
            )
            self.world._store(db, target, new, action="deploy")
        self.world.pause("after_deploy", target.region)  # applied; the answer is late, or lost with the worker
        return UndoRecord.of(request, now.image, now.revision, changed=True, previous_version=now.version)

    def rollout_status(self, target: Target) -> RolloutStatus:
        """Complete after ``scenario.rollout_polls`` polls, or failed if the scenario says so."""
        self.world.pause("rollout", target.region)
        scenario = self.world.scenario
        with self.world._transaction() as db:
            workload = self.world._load(db, target)
            if Scenario.matches(scenario.bad_rollouts, target.region, workload.version):
                return RolloutStatus(state=RolloutState.FAILED, message="simulated: progress deadline exceeded")
            workload.polls += 1
            self.world._store(db, target, workload)
        if workload.polls < scenario.rollout_polls:
            return RolloutStatus(state=RolloutState.PROGRESSING, message="simulated: 1 of 2 updated replicas")
        return RolloutStatus(state=RolloutState.COMPLETE, message="simulated: rollout complete")

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        """Put the recorded previous image back; a no-op if it is already there."""
        target, previous = undo.target, undo.previous_image
        self.world.pause("rollback", target.region)
        with self.world._transaction() as db:
            now = self.world._load(db, target)
            if not undo.changed or previous is None or now.image == previous:
                return RollbackResult(region=target.region, changed=False, image=now.image, message="already there")
            restored = _Workload(target.region, previous, undo.previous_version or _version(previous), now.revision + 1)
            self.world._store(db, target, restored, action="rollback")
        self.world.pause("after_rollback", target.region)  # restored; the answer is late, or lost with the worker
        return RollbackResult(region=target.region, changed=True, image=previous)


class SandboxMetricsSource:
    """Metrics source over a :class:`SandboxWorld`: healthy values unless the scenario says otherwise."""

    def __init__(self, world: SandboxWorld) -> None:
        self.world = world

    async def measure(self, gate: Gate, region: Region, variables: dict[str, str], url: str) -> Measurement:
        """A value that passes or breaches ``gate`` as the scenario scripts it, after its ``gates`` delay."""
        query = render_query(gate.query, variables)
        version = variables["version"]
        scenario = self.world.scenario
        await asyncio.sleep(scenario.delay("gates"))
        if Scenario.matches(scenario.no_data, region.name, version):
            return Measurement(query=query, value=None, samples=0)
        if gate.kind is GateKind.ERROR_BUDGET:
            breach = region.name in scenario.exhausted_budget
        else:
            breach = Scenario.matches(scenario.bad_gates, region.name, version)
        if gate.kind is GateKind.COMPARISON:
            requests = SANDBOX_RPS * parse_duration(variables["window"]).total_seconds()
            return Measurement(query=query, value=requests * (0.04 if breach else 0.01), samples=requests)
        return Measurement(query=query, value=_value(gate, breach), samples=max(gate.min_samples * 10, 1000))

    async def series(self, query: str, region: Region, url: str) -> Series:
        """One series per alert the scenario fires in ``region`` (``Scenario.alarms``), after its ``gates`` delay."""
        scenario = self.world.scenario
        await asyncio.sleep(scenario.delay("gates"))
        names = sorted(scenario.alarms.get(region.name, set()))
        return Series(query=query, series=[{"alertname": name, "region": region.name} for name in names])


def _value(gate: Gate, breach: bool) -> float:
    """A measured value that :func:`~ringctl.activities.gates.judge` finds healthy or breaching.

    Burn-rate and error-budget gates measure a bad-event ratio: 0 is healthy,
    1 (every request failing) breaches them.
    """
    if gate.kind is not GateKind.THRESHOLD:
        return 1.0 if breach else 0.0
    below = gate.comparison in (Comparison.LT, Comparison.LE)
    margin = abs(gate.threshold) or 1.0
    healthy = gate.threshold - margin / 2 if below else gate.threshold + margin / 2
    breaching = gate.threshold + margin * 9 if below else gate.threshold - margin * 9
    return breaching if breach else healthy
