"""Gate evaluation: providers measure, :func:`judge` decides, the activity evaluates a ring."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from activities.models import EvaluateGatesInput, GateDecision, GateEvaluation, GateResult, Measurement
from activities.providers import MetricsSource
from ringctl.plan import Gate, MissingData, Region

_MISSING = {MissingData.FAIL: GateDecision.FAIL, MissingData.HOLD: GateDecision.HOLD, MissingData.PASS: GateDecision.PASS}


def render_query(template: str, variables: dict[str, str]) -> str:
    """Substitute ``{service}``-style placeholders, leaving PromQL's own braces alone."""
    out = template
    for key, value in variables.items():
        out = out.replace("{" + key + "}", value)
    return out


def judge(gate: Gate, measurement: Measurement) -> tuple[GateDecision, str]:
    """Decide one gate from one measurement; missing or doubtful data follows ``gate.missing_data``."""
    missing = _MISSING[gate.missing_data]
    if measurement.error is not None:
        return missing, f"missing data ({gate.missing_data}): {measurement.error}"
    if measurement.value is None:
        return missing, f"missing data ({gate.missing_data}): the query returned no series"
    if gate.min_samples > 0 and (measurement.samples is None or measurement.samples < gate.min_samples):
        return missing, (
            f"missing data ({gate.missing_data}): {measurement.samples or 0:g} samples, "
            f"fewer than min_samples {gate.min_samples:g}"
        )
    healthy = gate.comparison.holds(measurement.value, gate.threshold)
    verdict = "within" if healthy else "breaches"
    reason = f"{measurement.value:g} {verdict} {gate.comparison} {gate.threshold:g}"
    return (GateDecision.PASS if healthy else GateDecision.FAIL), reason


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
    async def evaluate_gates(self, request: EvaluateGatesInput) -> GateEvaluation:
        """Measure every gate in every region of a ring concurrently, and judge each."""
        pairs = [(gate, region) for region in request.regions for gate in request.gates]

        async def one(gate: Gate, region: Region) -> GateResult:
            variables = {
                "service": request.service,
                "region": region.name,
                "version": request.version,
                "previous_version": request.previous_version or "",
                "window": _promql_duration(gate.window.total_seconds()),
            }
            url = region.prometheus_url or request.prometheus_url
            measurement = await self._source.measure(gate, region, variables, url)
            decision, reason = judge(gate, measurement)
            return GateResult(
                gate=gate.name,
                region=region.name,
                query=measurement.query,
                value=measurement.value,
                threshold=gate.threshold,
                comparison=str(gate.comparison),
                samples=measurement.samples,
                decision=decision,
                reason=reason,
                evaluated_at=datetime.now(UTC),
            )

        results = await asyncio.gather(*(one(gate, region) for gate, region in pairs))
        return GateEvaluation(results=list(results), decision=combine([r.decision for r in results]))


def _promql_duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole}s" if whole == seconds else f"{int(seconds * 1000)}ms"
