"""The plan's ``alarms:`` block: off unless given, Sloth's and Pyrra's page alerts by default, strict, sped up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from ringctl.core.alarms import DEFAULT_ALARM_QUERIES
from ringctl.core.errors import PlanError
from ringctl.core.planfile import parse_plan
from ringctl.core.timescale import scale_plan
from tests.support.plans import plan_data


def test_alarms_are_off_unless_the_plan_asks_and_default_to_sloth_and_pyrra_pages() -> None:
    assert parse_plan(yaml.safe_dump(plan_data())).alarms is None
    plan = parse_plan(yaml.safe_dump(plan_data(alarms={})))
    assert plan.alarms is not None and plan.alarms.queries == list(DEFAULT_ALARM_QUERIES)
    assert plan.alarms.interval == timedelta(minutes=1)
    assert any('sloth_severity="page"' in q for q in plan.alarms.queries)
    assert any('severity="critical"' in q for q in plan.alarms.queries)
    assert all(ring.check_alarms for ring in plan.stages)


@pytest.mark.parametrize(
    ("alarms", "problem"),
    [
        ({"queries": []}, "alarms.queries: List should have at least 1 item"),
        ({"queries": [""]}, "alarms.queries[0]: String should have at least 1 character"),
        ({"interval": "0s"}, "alarms.interval: interval must be greater than 0s"),
        ({"query": "ALERTS"}, "alarms.query: unknown field"),
    ],
)
def test_a_bad_alarms_block_is_refused_where_it_is(alarms: dict[str, object], problem: str) -> None:
    with pytest.raises(PlanError) as raised:
        parse_plan(yaml.safe_dump(plan_data(alarms=alarms)))
    assert f"rings.yaml: {problem}" in str(raised.value)


def test_speed_shortens_the_alarm_interval_not_below_a_second() -> None:
    plan = parse_plan(yaml.safe_dump(plan_data(alarms={"interval": "10m"})))
    intervals = [scaled.alarms.interval for speed in (60, 10_000) if (scaled := scale_plan(plan, speed)).alarms]
    assert intervals == [timedelta(seconds=10), timedelta(seconds=1)]
    assert scale_plan(parse_plan(yaml.safe_dump(plan_data())), 60).alarms is None


def test_burn_rate_alarms_are_the_slos_burn_rate_checks_over_every_version() -> None:
    slo = {
        "name": "availability",
        "sli": 'ratio{version="{version}"}',
        "samples_query": 'requests{version="{version}"}',
        "objective": 99.9,
        "burn_rate": [{"short": "5m", "long": "1h", "factor": 14.4}, {"short": "30m", "long": "6h", "factor": 6}],
        "budget_query": "ratio_all_versions",
        "budget_samples_query": "requests_all_versions",
        "min_samples": 300,
    }
    data = plan_data(alarms={})
    data["services"][0]["slos"] = [slo]
    data["staging"]["slo_overrides"] = {"availability": {"burn_rate": []}}
    plan = parse_plan(yaml.safe_dump(data))
    gates = plan.alarm_gates_for("checkout", plan.rings[0])
    assert [g.name for g in gates] == ["availability:alarm-burn-5m-1h", "availability:alarm-burn-30m-6h"]
    assert {(g.query, g.samples_query, g.min_samples, g.threshold) for g in gates[:1]} == {
        ("ratio_all_versions", "requests_all_versions", 300, 14.4)
    }
    assert plan.alarm_gates_for("checkout", plan.staging) == []  # the ring's override
    bake = [g.name for g in plan.gates_for("checkout", plan.rings[0]) if g.slo]  # the bake's, unchanged
    assert bake == ["availability", "availability:burn-5m-1h", "availability:burn-30m-6h"]
    data["alarms"] = {"burn_rate": False}
    assert parse_plan(yaml.safe_dump(data)).alarm_gates_for("checkout", plan.rings[0]) == []
    data.pop("alarms")
    assert parse_plan(yaml.safe_dump(data)).alarm_gates_for("checkout", plan.rings[0]) == []
    data["alarms"] = {}
    del slo["budget_query"], slo["budget_samples_query"]
    assert parse_plan(yaml.safe_dump(data)).alarm_gates_for("checkout", plan.rings[0]) == []  # no budget_query
