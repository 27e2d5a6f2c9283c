"""A simulation of regions and metrics, for the demo and for tests of orchestration logic.

Nothing here touches a cluster or Prometheus. Health is scripted: a
:class:`Scenario` says which versions fail their rollout or their gates in
which regions, and tests may change it while a release runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from activities.gates import render_query
from activities.models import (
    DeployInput,
    Measurement,
    RollbackResult,
    RolloutState,
    RolloutStatus,
    Target,
    UndoRecord,
)
from ringctl.plan import Comparison, Gate, GateKind, Region

#: Matches every version in a :class:`Scenario` entry.
ANY_VERSION = "*"


@dataclass
class Scenario:
    """Scripted health: region name -> versions that misbehave there (``"*"`` for all)."""

    bad_rollouts: dict[str, set[str]] = field(default_factory=dict)
    bad_gates: dict[str, set[str]] = field(default_factory=dict)
    no_data: dict[str, set[str]] = field(default_factory=dict)
    #: Regions whose error budget is spent (error-budget gates before a ring breach there).
    exhausted_budget: set[str] = field(default_factory=set)
    rollout_polls: int = 1

    @staticmethod
    def matches(table: dict[str, set[str]], region: str, version: str) -> bool:
        """Whether ``table`` marks ``version`` in ``region``."""
        versions = table.get(region, set())
        return version in versions or ANY_VERSION in versions


@dataclass
class SandboxCall:
    """One recorded provider call, for tests and the demo's narration."""

    action: str
    region: str
    image: str | None
    at: datetime


@dataclass
class _Region:
    image: str
    revision: int
    history: dict[int, str]
    version: str
    polls: int = 0


class SandboxWorld:
    """The simulated regions and the scenario, shared by the sandbox deploy target and metrics source."""

    def __init__(self, scenario: Scenario | None = None, initial_image: str = "sandbox/app:0") -> None:
        self.scenario = scenario or Scenario()
        self.calls: list[SandboxCall] = []
        self._initial_image = initial_image
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()

    def image(self, region: str) -> str:
        """The image running in ``region`` now."""
        with self._lock:
            return self._region(region).image

    def version(self, region: str) -> str:
        """The version running in ``region`` now."""
        with self._lock:
            return self._region(region).version

    def _region(self, name: str) -> _Region:
        if name not in self._regions:
            version = self._initial_image.rpartition(":")[2]
            self._regions[name] = _Region(self._initial_image, 1, {1: self._initial_image}, version)
        return self._regions[name]

    def _record(self, action: str, region: str, image: str | None) -> None:
        self.calls.append(SandboxCall(action, region, image, datetime.now(UTC)))


class SandboxDeployTarget:
    """Deploy target over a :class:`SandboxWorld` (a simulation, not a cluster)."""

    def __init__(self, world: SandboxWorld) -> None:
        self.world = world

    def deploy(self, request: DeployInput) -> UndoRecord:
        """Switch the simulated region to ``request.image``; a no-op if it already runs it."""
        with self.world._lock:
            region = self.world._region(request.target.region)
            if region.image == request.image:
                before = region.history.get(region.revision - 1)
                return UndoRecord.of(request, before, region.revision - 1 if before else None, changed=False)
            previous_image, previous_revision = region.image, region.revision
            region.revision += 1
            region.history[region.revision] = request.image
            region.image, region.version, region.polls = request.image, request.version, 0
            self.world._record("deploy", request.target.region, request.image)
        return UndoRecord.of(request, previous_image, previous_revision, changed=True)

    def rollout_status(self, target: Target) -> RolloutStatus:
        """Complete after ``scenario.rollout_polls`` polls, or failed if the scenario says so."""
        with self.world._lock:
            region = self.world._region(target.region)
            if Scenario.matches(self.world.scenario.bad_rollouts, target.region, region.version):
                return RolloutStatus(state=RolloutState.FAILED, message="simulated: progress deadline exceeded")
            region.polls += 1
            if region.polls < self.world.scenario.rollout_polls:
                return RolloutStatus(state=RolloutState.PROGRESSING, message="simulated: 1 of 2 updated replicas")
            return RolloutStatus(state=RolloutState.COMPLETE, message="simulated: rollout complete")

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        """Put the recorded previous image back; a no-op if it is already there."""
        name = undo.target.region
        with self.world._lock:
            region = self.world._region(name)
            if not undo.changed or undo.previous_image is None or region.image == undo.previous_image:
                return RollbackResult(region=name, changed=False, image=region.image, message="already there")
            region.revision += 1
            region.history[region.revision] = undo.previous_image
            region.image = undo.previous_image
            region.version = undo.previous_image.rpartition(":")[2]
            self.world._record("rollback", name, undo.previous_image)
        return RollbackResult(region=name, changed=True, image=undo.previous_image)


class SandboxMetricsSource:
    """Metrics source over a :class:`SandboxWorld`: healthy values unless the scenario says otherwise."""

    def __init__(self, world: SandboxWorld) -> None:
        self.world = world

    async def measure(self, gate: Gate, region: Region, variables: dict[str, str], url: str) -> Measurement:
        """A value that passes or breaches ``gate`` as the scenario scripts it."""
        query = render_query(gate.query, variables)
        version = variables["version"]
        scenario = self.world.scenario
        if Scenario.matches(scenario.no_data, region.name, version):
            return Measurement(query=query, value=None, samples=0)
        if gate.kind is GateKind.ERROR_BUDGET:
            breach = region.name in scenario.exhausted_budget
        else:
            breach = Scenario.matches(scenario.bad_gates, region.name, version)
        return Measurement(query=query, value=_value(gate, breach), samples=max(gate.min_samples * 10, 1000))


def _value(gate: Gate, breach: bool) -> float:
    """A measured value that :func:`~activities.gates.judge` finds healthy or breaching.

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
