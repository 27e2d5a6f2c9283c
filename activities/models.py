"""Typed inputs and outputs of the activities, shared with the workflow.

What providers take and return (targets, undo records, measurements) is in
:mod:`ringctl.providers.models`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from ringctl.core.evidence import EvidenceState, Finding
from ringctl.core.plan import Gate, MissingData, Region
from ringctl.providers.models import Message, Target, UndoRecord


class WaitRolloutInput(Message):
    """Wait until the region's rollout completes, fails, or ``timeout`` passes."""

    target: Target
    release_id: str
    timeout: timedelta


class RollbackInput(Message):
    """Undo one region's deploy."""

    undo: UndoRecord


class GateDecision(StrEnum):
    """A gate's verdict for one region."""

    PASS = "pass"
    FAIL = "fail"
    HOLD = "hold"


#: What a gate decides on missing or doubtful data, by its ``missing_data``.
MISSING_DATA_DECISION = {
    MissingData.FAIL: GateDecision.FAIL,
    MissingData.HOLD: GateDecision.HOLD,
    MissingData.PASS: GateDecision.PASS,
}


class GateResult(Message):
    """One evaluated gate in one region: the measurement and the decision taken from it.

    ``value`` is what was compared with ``threshold``: the SLI for a threshold
    gate, the smaller burn rate for a burn-rate gate, the budget left for an
    error-budget gate; ``measured`` holds the raw query results behind it.
    """

    gate: str
    region: str
    query: str
    value: float | None
    threshold: float
    comparison: str
    samples: float | None
    decision: GateDecision
    reason: str
    evaluated_at: datetime
    slo: str | None = None
    kind: str = "threshold"
    measured: list[float | None] = []
    #: A comparison gate's look: the statistic, its bounds, the counts, the confidence and the time to evidence.
    evidence: Finding | None = None
    #: Why a failure holds instead: the control regions fail the gate too (the incident guard's words).
    incident: str | None = None

    @property
    def verdict(self) -> str:
        """What people are shown: the decision, or ``insufficient`` for a comparison still without a verdict."""
        if self.evidence is not None and self.evidence.verdict == "insufficient":
            return "insufficient"
        return str(self.decision)


class EvaluateGatesInput(Message):
    """Evaluate ``gates`` for ``service`` at ``version`` in every region of a ring."""

    release_id: str
    service: str
    version: str
    ring: str
    regions: list[Region]
    gates: list[Gate]
    prometheus_url: str
    #: Previous version per region (from the deploy's undo record), for ``{previous_version}``.
    previous_versions: dict[str, str] = {}
    #: Seconds one query may take; a slower one is missing data. ``None``: the source's own timeout.
    timeout: float | None = None
    #: Comparison gates: the time since the ring started (their counts are since then), the regions the
    #: release has not reached yet (control), and each gate's evidence so far, by gate name.
    elapsed: timedelta | None = None
    control_regions: list[Region] = []
    evidence: dict[str, EvidenceState] = {}

    @property
    def replaced_version(self) -> str:
        """The version this release replaces (in the control regions too), or ``""`` when unknown."""
        return next(iter(self.previous_versions.values()), "")


class GateEvaluation(Message):
    """All results of one evaluation round, and the combined decision (fail beats hold beats pass).

    ``evidence``: each comparison gate's state after this round, for the next (by gate name).
    """

    results: list[GateResult]
    decision: GateDecision
    evidence: dict[str, EvidenceState] = {}


class CheckAlarmsInput(Message):
    """Run the plan's alarm ``queries`` for ``service`` in every region of a ring."""

    release_id: str
    service: str
    ring: str
    regions: list[Region]
    queries: list[str]
    prometheus_url: str
    #: Seconds one query may take; a slower one leaves the region's alarms unknown. ``None``: the source's own.
    timeout: float | None = None


class Alarm(Message):
    """One alert firing in one region."""

    name: str
    region: str


class AlarmCheck(Message):
    """The alarms firing in a ring's regions, and why any region's alarms are unknown (region -> error)."""

    firing: list[Alarm] = []
    unknown: dict[str, str] = {}
