"""Comparison gates' activity logic: strata, cumulative counts from Prometheus, missing data, the incident guard."""

from __future__ import annotations

from datetime import timedelta

from ringctl.activities.comparison import compare, strata
from ringctl.activities.gates import held_for_incident as guard
from ringctl.activities.models import EvaluateGatesInput, GateDecision, GateResult
from ringctl.core.plan import ComparisonGate, Gate, Region, ThresholdGate
from ringctl.providers.models import Measurement
from tests.support.gate_results import gate_result

GATE = ComparisonGate.model_validate(
    {"name": "vs-control", "kind": "comparison", "query": "errors", "samples_query": "requests"}
)


def regions(*names: str) -> list[Region]:
    return [Region(name=name, country="US", kube_context=name) for name in names]


def request(elapsed: float, state: dict[str, object] | None = None) -> EvaluateGatesInput:
    return EvaluateGatesInput.model_validate(
        {
            "release_id": "checkout@2.0.0",
            "service": "checkout",
            "version": "2.0.0",
            "ring": "canary",
            "regions": regions("canary-1", "canary-2"),
            "gates": [],
            "prometheus_url": "http://prometheus",
            "previous_versions": {"canary-1": "1.0.0", "canary-2": "1.0.0"},
            "elapsed": timedelta(seconds=elapsed),
            "control_regions": regions("rest-1", "rest-2"),
            "evidence": state or {},
        }
    )


def counts(table: dict[tuple[str, str], tuple[float, float]], error: str | None = None):  # type: ignore[no-untyped-def]
    """A measure function over (region, version) -> (requests, errors); ``error`` makes every query fail.

    A comparison gate measures the counts; any other gate the error ratio.
    """

    async def measure(gate: Gate, region: Region, version: str, window: timedelta) -> Measurement:
        if error:
            return Measurement(query="errors", error=error)
        requests, errors = table.get((region.name, version), (0.0, 0.0))
        if not isinstance(gate, ComparisonGate):
            return Measurement(query="ratio", value=errors / requests if requests else None, samples=requests)
        return Measurement(
            query=f"errors[{window.total_seconds():g}s] in {region.name}", value=errors, samples=requests
        )

    return measure


def test_each_treated_region_gets_its_own_control_regions_and_none_is_used_twice() -> None:
    paired = strata(regions("a", "b"), regions("x", "y", "z"))
    assert [([t.name for t in tr], [c.name for c in co]) for tr, co in paired] == [(["a"], ["x", "z"]), (["b"], ["y"])]
    shared = strata(regions("a", "b", "c"), regions("x"))
    assert [([t.name for t in tr], [c.name for c in co]) for tr, co in shared] == [(["a", "b", "c"], ["x"])]
    alone = strata(regions("a", "b"), [])
    assert [[t.name for t in tr] for tr, _ in alone] == [["a"], ["b"]], "own old pods only: one stratum per region"


async def test_a_regression_fails_and_each_region_names_its_share_until_then() -> None:
    early = {(r, "2.0.0"): (2_000.0, 40.0) for r in ("canary-1", "canary-2")}
    early |= {(r, "1.0.0"): (2_000.0, 20.0) for r in ("rest-1", "rest-2")}
    first = await compare(GATE, request(10), counts(early))
    assert [r.decision for r in first.results] == [GateDecision.PASS, GateDecision.PASS], "no verdict yet"
    assert first.results[0].verdict == "insufficient" and first.state is not None
    assert "; canary-1: about " in first.results[0].reason and "; canary-2: about " in first.results[1].reason
    assert first.results[0].reason.endswith(" more on the new version")

    later = {key: (requests * 30, errors * 30) for key, (requests, errors) in early.items()}
    second = await compare(GATE, request(300, {"vs-control": first.state}), counts(later))
    assert {r.decision for r in second.results} == {GateDecision.FAIL}
    assert "regression of at least 1.5x established" in second.results[0].reason
    assert second.results[0].evidence is not None and second.results[0].evidence.treated_requests == 120_000


async def test_counts_that_shrink_between_looks_are_kept_not_refused() -> None:
    """``increase`` extrapolates: a count may come out lower at the next look; the test keeps the higher one."""
    table = {
        (r, v): (10_000.0, 100.0) for r in ("canary-1", "canary-2", "rest-1", "rest-2") for v in ("2.0.0", "1.0.0")
    }
    first = await compare(GATE, request(10), counts(table))
    shrunk = {key: (requests - 50, errors - 1) for key, (requests, errors) in table.items()}
    second = await compare(GATE, request(11, {"vs-control": first.state}), counts(shrunk))
    assert first.state is not None and second.state is not None
    assert second.state.counts == first.state.counts


async def test_missing_data_follows_the_gate_policy_and_leaves_the_test_where_it_was() -> None:
    failed = await compare(GATE, request(10), counts({}, error="query timed out after 10s"))
    assert failed.state is None, "the workflow keeps the state it had"
    assert {r.decision for r in failed.results} == {GateDecision.HOLD}
    assert failed.results[0].reason == "missing data (hold): query timed out after 10s"


def threshold_failure(region: str) -> GateResult:
    return gate_result("error-ratio", region, GateDecision.FAIL, value=0.05, threshold=0.02, reason="0.05 breaches")


ERROR_RATIO = ThresholdGate.model_validate({"name": "error-ratio", "query": "q", "comparison": "<=", "threshold": 0.02})


def rates(new: float, old: float) -> dict[tuple[str, str], tuple[float, float]]:
    """Every region at ``new`` errors on 2.0.0 and ``old`` on 1.0.0, 1,000 requests each."""
    table = {(r, "2.0.0"): (1000.0, 1000 * new) for r in ("canary-1", "canary-2")}
    return table | {(r, "1.0.0"): (1000.0, 1000 * old) for r in ("canary-1", "canary-2", "rest-1", "rest-2")}


async def test_the_incident_guard_holds_a_failure_the_control_regions_share_and_only_that() -> None:
    both = request(10).model_copy(update={"gates": [GATE, ERROR_RATIO]})
    failure = [threshold_failure("canary-1")]
    everywhere = await guard(failure, both, counts(rates(0.05, 0.048)))
    assert everywhere[0].decision is GateDecision.HOLD
    assert everywhere[0].reason == (
        "0.05 breaches; held, not failed: the regions still on version 1.0.0 fail it too "
        "(rest-1 0.048 breaches <= 0.02; rest-2 0.048 breaches <= 0.02): an incident everywhere, not this release"
    )
    only_here = await guard(failure, both, counts(rates(0.05, 0.01)))
    assert only_here[0].decision is GateDecision.FAIL, "control within the threshold: this release's failure"
    own = failure[0].model_copy(update={"gate": "vs-control", "kind": "comparison"})
    assert (await guard([own], both, counts(rates(0.05, 0.048))))[0].decision is GateDecision.FAIL


async def test_a_latency_failure_of_the_new_version_alone_is_not_an_incident() -> None:
    """Equal error rates say nothing about another gate: only that gate, failing in control too, holds."""
    both = request(10).model_copy(update={"gates": [GATE, ERROR_RATIO]})
    slow = [threshold_failure("canary-1")]
    assert (await guard(slow, both, counts(rates(0.001, 0.001))))[0].decision is GateDecision.FAIL
