"""Comparison gates: the new version's errors against control's, decided on evidence.

A ``comparison`` gate (:class:`~ringctl.core.gates.ComparisonGate`) counts
errors and requests since the ring started. *Treated* is the new version in the
ring's regions; *control* is the version it replaces, in the same regions (pods
not yet updated) and in the regions the release has not reached yet. Each
stratum is one treated region with its own old pods and a disjoint share of
the unreached regions (dealt out in turn, :func:`strata`), so no count is used
twice; with fewer unreached regions than treated ones, treated regions share a
stratum. Each evaluation adds the counts since the last one to the sequential
test of :mod:`ringctl.core.evidence` and carries its state to the next.

A look's verdict becomes the gate's decision: **fail** fails, **pass** passes,
**insufficient** passes the round (the data is fine) but leaves the ring baking
until there is a verdict (:mod:`ringctl.workflows.evidence`). A query error is
missing data (the gate's ``missing_data``), and the test does not move.

The incident guard, which uses the same control regions, is
:func:`ringctl.activities.gates.held_for_incident`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ringctl.activities.models import MISSING_DATA_DECISION, EvaluateGatesInput, GateDecision, GateResult
from ringctl.core.evidence import Evidence, EvidenceState, Stratum, Verdict, look, start, two_figures
from ringctl.core.gates import ComparisonGate, Gate
from ringctl.core.plan import Region
from ringctl.providers.models import Measurement

__all__ = ["Comparison", "Measure", "compare", "strata"]

#: Measures a gate in a region for a version over a window: ``value`` errors, ``samples`` requests.
Measure = Callable[[Gate, Region, str, timedelta], Awaitable[Measurement]]

_DECISION = {Verdict.FAIL: GateDecision.FAIL, Verdict.PASS: GateDecision.PASS, Verdict.INSUFFICIENT: GateDecision.PASS}


@dataclass(frozen=True)
class Comparison:
    """One comparison gate's evaluation: its results (one per treated region) and the test's new state."""

    gate: ComparisonGate
    results: list[GateResult]
    state: EvidenceState | None


def strata(treated: Sequence[Region], control: Sequence[Region]) -> list[tuple[list[Region], list[Region]]]:
    """Treated regions each with a disjoint share of the control regions, dealt out in turn."""
    size = min(len(treated), len(control)) if control else len(treated)
    return [(list(treated[i::size]), list(control[i::size])) for i in range(size)]


async def compare(gate: ComparisonGate, request: EvaluateGatesInput, measure: Measure) -> Comparison:
    """Evaluate ``gate`` in the ring's regions against control and decide on the evidence so far."""
    elapsed = request.elapsed if request.elapsed is not None else gate.window
    window = max(elapsed, timedelta(seconds=1))
    state = request.evidence.get(gate.name) or start(gate.tolerance, gate.confidence)
    before = request.previous_versions
    control_version = request.replaced_version
    groups = strata(request.regions, request.control_regions)

    async def counts(regions: Sequence[Region], version: str | None) -> list[Measurement]:
        calls = [measure(gate, r, version if version is not None else before.get(r.name, ""), window) for r in regions]
        return list(await asyncio.gather(*calls))

    measured = await asyncio.gather(
        *(counts(treated, request.version) for treated, _ in groups),
        *(counts(treated, None) for treated, _ in groups),
        *(counts(control, control_version) for _, control in groups),
    )
    new, old, unreached = measured[: len(groups)], measured[len(groups) : 2 * len(groups)], measured[2 * len(groups) :]
    failed = [m for group in measured for m in group if m.error is not None]
    queries = {
        r.name: m.query for group, found in zip(groups, new, strict=True) for r, m in zip(group[0], found, strict=True)
    }
    if failed:
        decision = MISSING_DATA_DECISION[gate.missing_data]
        reason = f"missing data ({gate.missing_data}): {failed[0].error}"
        return Comparison(gate, _results(gate, request.regions, decision, reason, queries, None), None)
    interval = max(elapsed.total_seconds() - state.seconds, 0.0)
    layers = []
    for (treated, _), n, o, u in zip(groups, new, old, unreached, strict=True):
        name = "+".join(r.name for r in treated)
        layers.append(_stratum(name, state, _sum(n), _sum([*o, *u]), interval))
    evidence = look(state, layers, seconds=elapsed.total_seconds())
    decision = _DECISION[evidence.verdict]
    results = _results(gate, request.regions, decision, evidence.sentence(), queries, evidence)
    return Comparison(gate, results, evidence.state)


def _sum(measurements: Sequence[Measurement]) -> tuple[float, float]:
    """Requests and errors of measurements without errors; no series counts as none."""
    requests = sum(m.samples or 0.0 for m in measurements)
    errors = sum(m.value or 0.0 for m in measurements)
    return requests, min(errors, requests)


def _stratum(
    name: str, state: EvidenceState, treated: tuple[float, float], control: tuple[float, float], interval: float
) -> Stratum:
    """Cumulative counts never below the last look's (``increase`` extrapolates), with the rates since it."""
    last = state.counts.get(name, (0.0, 0.0, 0.0, 0.0))
    now = [max(value, then) for value, then in zip((*treated, *control), last, strict=True)]
    now[1], now[3] = min(now[1], now[0]), min(now[3], now[2])
    rate = (lambda i: (now[i] - last[i]) / interval) if interval > 0 else (lambda i: 0.0)
    return Stratum(
        name=name,
        treated_requests=now[0],
        treated_errors=now[1],
        control_requests=now[2],
        control_errors=now[3],
        treated_rps=rate(0),
        control_rps=rate(2),
    )


def _results(
    gate: ComparisonGate,
    regions: Sequence[Region],
    decision: GateDecision,
    reason: str,
    queries: dict[str, str],
    evidence: Evidence | None,
) -> list[GateResult]:
    """One result per treated region, each with its share of the time to evidence."""
    finding = evidence.finding() if evidence is not None else None
    results = []
    for region in regions:
        said = reason
        projection = evidence.projection if evidence is not None else None
        share = projection and next(
            (v / len(k.split("+")) for k, v in projection.by_stratum.items() if region.name in k.split("+")), None
        )
        if share:
            said += f"; {region.name}: about {two_figures(share)} more on the new version"
        results.append(
            GateResult(
                gate=gate.name,
                region=region.name,
                query=queries.get(region.name, gate.query),
                value=evidence.estimate if evidence is not None else None,
                threshold=gate.tolerance,
                comparison=str(gate.comparison),
                samples=evidence.treated_requests if evidence is not None else None,
                decision=decision,
                reason=said,
                evaluated_at=datetime.now(UTC),
                kind=str(gate.kind),
                evidence=finding,
            )
        )
    return results
