"""Pure gate logic: judging threshold, burn-rate and error-budget gates; compiling SLOs into gates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ringctl.activities.gates import combine, judge
from ringctl.activities.models import GateDecision
from ringctl.core.errors import PlanError
from ringctl.core.plan import BurnRateGate, ErrorBudgetGate, GateKind, Plan, Region, ThresholdGate
from ringctl.core.planfile import load_plan
from ringctl.providers.models import Measurement
from ringctl.providers.query_check import plan_queries
from ringctl.providers.sandbox import SandboxMetricsSource, SandboxWorld, Scenario
from tests.support.plans import plan_data
from tests.support.slo_plans import slos

ROOT = Path(__file__).resolve().parents[2]


def ok(value: float, samples: float = 1000) -> Measurement:
    return Measurement(query="q", value=value, samples=samples)


def burn_gate(**extra: Any) -> BurnRateGate:
    body: dict[str, Any] = {
        "name": "availability:burn-5m-1h",
        "kind": "burn_rate",
        "query": "q",
        "comparison": "<=",
        "threshold": 14.4,
        "window": "5m",
        "long_window": "1h",
        "objective": 0.999,
    }
    return BurnRateGate.model_validate({**body, **extra})


def budget_gate(**extra: Any) -> ErrorBudgetGate:
    body: dict[str, Any] = {
        "name": "availability:budget",
        "kind": "error_budget",
        "query": "q",
        "comparison": ">",
        "threshold": 0,
        "window": "28d",
        "objective": 0.999,
    }
    return ErrorBudgetGate.model_validate({**body, **extra})


# -- burn rate ---------------------------------------------------------------------


def test_burn_rate_breaches_only_when_both_windows_burn_too_fast() -> None:
    gate = burn_gate()
    assert gate.windows() == [timedelta(minutes=5), timedelta(hours=1)]
    # 2 % bad against a 0.1 % budget: 20x in both windows
    decision, reason = judge(gate, ok(0.02), ok(0.02))
    assert decision is GateDecision.FAIL
    assert "short 5m 20x" in reason and "long 1h 20x" in reason
    # a short spike that the long window has not confirmed: no breach (the workbook's point)
    assert judge(gate, ok(0.02), ok(0.005))[0] is GateDecision.PASS
    assert gate.derive([0.02, 0.005]) == pytest.approx(5.0)
    # a long-window burn that has already stopped: no breach either
    assert judge(gate, ok(0.0001), ok(0.02))[0] is GateDecision.PASS


def test_burn_rate_missing_window_follows_policy() -> None:
    decision, reason = judge(burn_gate(), ok(0.02), Measurement(query="q", error="query failed: timed out after 3s"))
    assert decision is GateDecision.HOLD and "(long 1h)" in reason and "timed out" in reason
    assert judge(burn_gate(missing_data="fail"), ok(0.02), Measurement(query="q"))[0] is GateDecision.FAIL
    assert judge(burn_gate(missing_data="pass"), ok(0.02), Measurement(query="q"))[0] is GateDecision.PASS


# -- error budget --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_ratio", "remaining", "decision"),
    [
        (0.0, 1.0, GateDecision.PASS),
        (0.0005, 0.5, GateDecision.PASS),
        (0.001, 0.0, GateDecision.FAIL),
        (0.004, -3.0, GateDecision.FAIL),
    ],
)
def test_error_budget_remaining(bad_ratio: float, remaining: float, decision: GateDecision) -> None:
    gate = budget_gate()
    assert gate.derive([bad_ratio]) == pytest.approx(remaining)
    verdict, reason = judge(gate, ok(bad_ratio))
    assert verdict is decision
    assert ("exhausted" if decision is GateDecision.FAIL else "left") in reason


def test_error_budget_without_traffic_is_missing_data() -> None:
    gate = budget_gate(samples_query="s", min_samples=100)
    assert judge(gate, ok(0.0, samples=3))[0] is GateDecision.HOLD
    assert judge(gate.model_copy(update={"missing_data": "fail"}), Measurement(query="q"))[0] is GateDecision.FAIL


def test_threshold_gate_unchanged_and_combine() -> None:
    gate = ThresholdGate(name="g", query="q", comparison="<=", threshold=0.01)  # type: ignore[arg-type]
    assert judge(gate, ok(0.02))[0] is GateDecision.FAIL
    assert judge(gate, ok(0.01))[0] is GateDecision.PASS
    assert combine([GateDecision.PASS, GateDecision.HOLD]) is GateDecision.HOLD
    assert combine([GateDecision.HOLD, GateDecision.FAIL]) is GateDecision.FAIL


# -- SLOs compile into gates ----------------------------------------------------------------


def slo_plan_data(**ring_extra: Any) -> dict[str, Any]:
    data = plan_data()
    service_slos = slos(interval="30s")
    service_slos[0]["error_budget"] = True
    data["services"][0]["slos"] = service_slos
    data["rings"][1].update(ring_extra)
    return data


def test_slos_compile_to_threshold_burn_and_budget_gates_with_ring_overrides() -> None:
    plan = Plan.model_validate(
        slo_plan_data(slo_overrides={"availability": {"threshold": 0.05, "consecutive_healthy": 4, "burn_rate": []}})
    )
    canary, na_eu = plan.rings[0], plan.rings[1]
    gates = {g.name: g for g in plan.gates_for("checkout", canary)}
    assert set(gates) == {"error-ratio", "availability", "availability:burn-3s-8s", "latency-p99"}
    availability = gates["availability"]
    assert (availability.kind, availability.threshold, availability.slo) == (
        GateKind.THRESHOLD,
        pytest.approx(0.01),
        "availability",
    )
    assert availability.window == timedelta(seconds=5) and availability.interval == timedelta(seconds=30)
    burn = gates["availability:burn-3s-8s"]
    assert (burn.kind, burn.threshold, burn.objective, burn.long_window) == (
        GateKind.BURN_RATE,
        5,
        pytest.approx(0.99),
        timedelta(seconds=8),
    )
    assert gates["latency-p99"].threshold == 0.5
    [budget] = plan.budget_gates_for("checkout", canary)
    assert (budget.kind, budget.comparison, budget.threshold, budget.window) == (
        GateKind.ERROR_BUDGET,
        ">",
        0,
        timedelta(seconds=30),
    )
    overridden = {g.name: g for g in plan.gates_for("checkout", na_eu)}
    assert overridden["availability"].threshold == 0.05 and overridden["availability"].consecutive_healthy == 4
    assert "availability:burn-3s-8s" not in overridden


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "unknown slo override": (
        slo_plan_data(slo_overrides={"availabilty": {"threshold": 1}}),
        "rings[1].slo_overrides.availabilty: no service has an SLO named 'availabilty'",
    ),
    "value slo without threshold": (
        {**plan_data(), "services": [{**plan_data()["services"][0], "slos": [{**slos()[1], "threshold": None}]}]},
        "services[0].slos[0]: an SLO with sli_type 'value' needs a threshold",
    ),
    "burn windows reversed": (
        {
            **plan_data(),
            "services": [
                {
                    **plan_data()["services"][0],
                    "slos": [{**slos()[0], "burn_rate": [{"short": "1h", "long": "5m", "factor": 2}]}],
                }
            ],
        },
        "services[0].slos[0].burn_rate[0]: long must be longer than short",
    ),
    "objective as a fraction": (
        {**plan_data(), "services": [{**plan_data()["services"][0], "slos": [{**slos()[0], "objective": 100}]}]},
        "services[0].slos[0].objective: Input should be less than 100",
    ),
    "budget without query": (
        {
            **plan_data(),
            "services": [
                {**plan_data()["services"][0], "slos": [{**slos()[0], "error_budget": True, "budget_query": None}]}
            ],
        },
        "services[0].slos[0]: error_budget: true needs a budget_query",
    ),
    "typo in slo": (
        {**plan_data(), "services": [{**plan_data()["services"][0], "slos": [{**slos()[0], "intervall": "1m"}]}]},
        "services[0].slos[0].intervall: unknown field",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_slos_name_their_field_path(tmp_path: Path, case: str) -> None:
    data, expected = INVALID[case]
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert any(expected in problem for problem in error.value.problems), error.value.problems


def test_shipped_plan_has_slos_and_every_query_is_listed_for_checking() -> None:
    plan = load_plan(ROOT / "rings.yaml")
    assert {s.name for s in plan.services[0].slos} == {"availability", "latency-p99"}
    assert plan.budget_gates_for("checkout", plan.staging) == []  # staging overrides error_budget off
    assert len(plan.budget_gates_for("checkout", plan.rings[0])) == 1
    japan = {g.name: g for g in plan.gates_for("checkout", plan.rings[-1])}
    assert japan["latency-p99"].threshold == 0.4 and japan["latency-p99"].consecutive_healthy == 5
    paths = [q.path for q in plan_queries(plan)]
    assert "services[0].slos[0].sli" in paths and "services[1].slos[1].samples_query" in paths
    assert "rings[0].gates[0].query" in paths
    assert all("{" + name + "}" not in q.query for q in plan_queries(plan) for name in ("service", "region", "window"))


async def test_sandbox_measures_every_gate_kind() -> None:
    world = SandboxWorld(Scenario(exhausted_budget={"r1"}, bad_gates={"r2": {"*"}}))
    source = SandboxMetricsSource(world)
    variables = {"service": "s", "region": "r", "version": "1", "previous_version": "", "window": "5m"}
    region = Region(name="r1", country="US", kube_context="r1")
    other = Region(name="r2", country="US", kube_context="r2")
    assert judge(budget_gate(), await source.measure(budget_gate(), region, variables, "u"))[0] is GateDecision.FAIL
    assert judge(budget_gate(), await source.measure(budget_gate(), other, variables, "u"))[0] is GateDecision.PASS
    healthy = await source.measure(burn_gate(), region, variables, "u")
    assert judge(burn_gate(), healthy, healthy)[0] is GateDecision.PASS
    bad = await source.measure(burn_gate(), other, variables, "u")
    assert judge(burn_gate(), bad, bad)[0] is GateDecision.FAIL
