"""Gate evaluation: providers measure, :func:`judge` decides, the activity evaluates a ring.

Comparison gates are decided on evidence instead (:mod:`ringctl.activities.comparison`);
in a ring with one, :func:`held_for_incident` holds a failure the control regions share.

One path for every gate kind (threshold, burn_rate, error_budget): the
activity measures each gate in each region once per window of
:meth:`~ringctl.core.gates.BaseGate.windows` (burn-rate gates: two), all
concurrently, and :func:`judge` turns the measurements into a decision, the
value compared derived by the gate's kind (:meth:`~ringctl.core.gates.BaseGate.derive`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity

from ringctl.activities import comparison
from ringctl.activities.boundary import translated
from ringctl.activities.comparison import Measure
from ringctl.activities.models import (
    MISSING_DATA_DECISION,
    EvaluateGatesInput,
    GateDecision,
    GateEvaluation,
    GateResult,
)
from ringctl.core.plan import ComparisonGate, Gate, GateKind, Region
from ringctl.core.query import promql_duration, render_query
from ringctl.providers.interfaces import MetricsSource
from ringctl.providers.models import Measurement

#: What a failure held by the incident guard says: ``HELD`` the words why, ending in ``INCIDENT``.
HELD = "held, not failed: "
INCIDENT = "an incident everywhere, not this release"

#: Seconds between heartbeats while an evaluation's queries run (the workflow's heartbeat timeout is a few of these).
HEARTBEAT_EVERY = 1.0


def judge(gate: Gate, measurement: Measurement, *more: Measurement) -> tuple[GateDecision, str]:
    """Decide one gate from its measurements (burn-rate gates: short window, then long window).

    Missing or doubtful data in any of them - a query error or timeout, no
    series, fewer than ``min_samples`` requests - follows ``gate.missing_data``;
    it never counts as healthy unless that policy is ``pass``.
    """
    missing = MISSING_DATA_DECISION[gate.missing_data]
    measurements = [measurement, *more]
    # One measurement per window names each window; any other count leaves them unnamed.
    labels = gate.window_labels() if len(measurements) == len(gate.windows()) else [""] * len(measurements)
    for label, m in zip(labels, measurements, strict=False):
        where = f" ({label})" if label else ""
        if m.error is not None:
            return missing, f"missing data ({gate.missing_data}){where}: {m.error}"
        if m.value is None:
            return missing, f"missing data ({gate.missing_data}){where}: the query returned no series"
        if gate.min_samples > 0 and (m.samples is None or m.samples < gate.min_samples):
            return missing, (
                f"missing data ({gate.missing_data}){where}: {m.samples or 0:g} samples, "
                f"fewer than min_samples {gate.min_samples:g}"
            )
    values = [m.value for m in measurements if m.value is not None]
    healthy = gate.comparison.holds(gate.derive(values), gate.threshold)
    return (GateDecision.PASS if healthy else GateDecision.FAIL), gate.describe(values, healthy)


def combine(decisions: list[GateDecision]) -> GateDecision:
    """The decision of a round: any fail fails, else any hold holds, else pass."""
    if GateDecision.FAIL in decisions:
        return GateDecision.FAIL
    if GateDecision.HOLD in decisions:
        return GateDecision.HOLD
    return GateDecision.PASS


class GateActivities:
    """Gate activities bound to a metrics source."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    @activity.defn
    @translated
    async def evaluate_gates(self, request: EvaluateGatesInput) -> GateEvaluation:
        """Measure every gate in every region of a ring concurrently, and judge each.

        Prometheus errors and timeouts never raise: they are missing data, which
        the gate's ``missing_data`` policy decides.
        """

        async def measure(gate: Gate, region: Region, version: str, window: timedelta) -> Measurement:
            variables = {
                "service": request.service,
                "region": region.name,
                "version": version,
                "previous_version": request.previous_versions.get(region.name, ""),
                "window": promql_duration(window),
            }
            url = region.prometheus_url or request.prometheus_url
            call = self._source.measure(gate, region, variables, url)
            if request.timeout is None:
                return await call
            try:
                return await asyncio.wait_for(call, request.timeout)
            except TimeoutError:
                return Measurement(
                    query=render_query(gate.query, variables), error=f"timed out after {request.timeout:g}s"
                )

        async def one(gate: Gate, region: Region) -> GateResult:
            measurements = await asyncio.gather(*(measure(gate, region, request.version, w) for w in gate.windows()))
            decision, reason = judge(gate, *measurements)
            values = [m.value for m in measurements]
            derived = gate.derive([v for v in values if v is not None]) if None not in values else None
            return GateResult(
                gate=gate.name,
                region=region.name,
                query=" ; ".join(m.query for m in measurements),
                value=derived,
                threshold=gate.threshold,
                comparison=str(gate.comparison),
                samples=measurements[0].samples,
                decision=decision,
                reason=reason,
                evaluated_at=datetime.now(UTC),
                slo=gate.slo,
                kind=str(gate.kind),
                measured=values,
            )

        compared = [g for g in request.gates if isinstance(g, ComparisonGate)]
        pairs = [(g, r) for r in request.regions for g in request.gates if not isinstance(g, ComparisonGate)]
        beating = asyncio.create_task(_heartbeat_until_cancelled(request.ring))
        try:
            judged, comparisons = await asyncio.gather(
                asyncio.gather(*(one(gate, region) for gate, region in pairs)),
                asyncio.gather(*(comparison.compare(gate, request, measure) for gate in compared)),
            )
            results = [*judged, *(r for c in comparisons for r in c.results)]
            if compared and request.control_regions:
                results = await held_for_incident(results, request, measure)
        finally:
            beating.cancel()
        return GateEvaluation(
            results=results,
            decision=combine([r.decision for r in results]),
            evidence={c.gate.name: c.state for c in comparisons if c.state is not None},
        )


async def held_for_incident(
    results: list[GateResult], request: EvaluateGatesInput, measure: Measure
) -> list[GateResult]:
    """The incident guard: hold, not fail, a gate the control regions fail too.

    A ring with a comparison gate has control regions (the regions not reached
    yet, on the version the release replaces). When one of its other gates
    fails, that gate is judged in them as well; if it fails in at least half of
    them, everything is degraded, not this release: its failures hold instead,
    and say why. A comparison gate's own failure is never held (it already
    compares with control).
    """
    failing = {r.gate for r in results if r.decision is GateDecision.FAIL and r.kind != GateKind.COMPARISON}
    previous = request.replaced_version
    shared: dict[str, str] = {}
    for gate in (g for g in request.gates if g.name in failing):
        calls = [[measure(gate, region, previous, w) for w in gate.windows()] for region in request.control_regions]
        found = await asyncio.gather(*(asyncio.gather(*c) for c in calls))
        verdicts = [judge(gate, *measurements) for measurements in found]
        failed = [
            f"{r.name} {why}"
            for r, (d, why) in zip(request.control_regions, verdicts, strict=True)
            if d is GateDecision.FAIL
        ]
        if 2 * len(failed) >= len(request.control_regions):
            version = f"version {previous}" if previous else "the previous version"
            shared[gate.name] = f"{HELD}the regions still on {version} fail it too ({'; '.join(failed)}): {INCIDENT}"
    return [
        r.model_copy(
            update={
                "decision": GateDecision.HOLD,
                "reason": f"{r.reason}; {shared[r.gate]}",
                "incident": shared[r.gate],
            }
        )
        if r.decision is GateDecision.FAIL and r.gate in shared
        else r
        for r in results
    ]


async def _heartbeat_until_cancelled(ring: str) -> None:
    """Heartbeat every :data:`HEARTBEAT_EVERY` seconds, so a worker lost mid-evaluation is noticed in seconds.

    Not as a local activity: its heartbeats go nowhere (the workflow task running it bounds it).
    """
    if activity.info().is_local:
        return
    while True:
        activity.heartbeat(ring)
        await asyncio.sleep(HEARTBEAT_EVERY)
