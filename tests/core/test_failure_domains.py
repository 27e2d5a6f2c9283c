"""Failure domains: the regions of a pair, or of one ``failure_domain``, are never in one ring.

Azure's safe-deployment rule: one bad release must not take both regions of a
pair (Tokyo and Osaka) at once, so they go in different rings. A pair may be
declared on one side only (Azure has one-way pairs); ``pair`` must name another
region of the plan. Plans are loaded as a person's file is (``parse_plan``),
and once through the real ``ringctl validate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.common.v1 import Payload

from ringctl.core.errors import PlanError
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.plan import Plan
from ringctl.core.planfile import parse_plan
from tests.support.cli_runs import ringctl
from tests.support.plans import plan_data, region, ring

PAIR_IN_JAPAN = (
    "rings[2].regions: ap-northeast-1 and ap-northeast-3 are a pair (rings[2].regions[0].pair) but both are in "
    "ring 'japan': put them in different rings so one failure cannot take both"
)


def problems(data: dict[str, Any]) -> list[str]:
    """The problems ``ringctl validate`` lists for ``data`` (empty: the plan is valid)."""
    try:
        parse_plan(yaml.safe_dump(data), "rings.yaml")
    except PlanError as error:
        return error.problems
    return []


def japan_region(index: int, **extra: Any) -> dict[str, Any]:
    """Give the ``index``-th region of :func:`plan_data`'s japan ring ``extra`` fields; the plan."""
    data = plan_data()
    data["rings"][2]["regions"][index].update(extra)
    return data


def split_japan(**east: Any) -> dict[str, Any]:
    """:func:`plan_data` with Japan split: japan-east (ap-northeast-1, given ``east``) before japan-west."""
    data = plan_data()
    tokyo, osaka = data["rings"][2]["regions"]
    tokyo.update(east)
    data["rings"][2:] = [ring("japan-east", tokyo), ring("japan-west", osaka)]
    return data


def test_a_pair_in_one_ring_is_refused_naming_both_regions_the_ring_and_the_field() -> None:
    assert problems(japan_region(0, pair="ap-northeast-3")) == [PAIR_IN_JAPAN]


def test_a_pair_declared_on_both_sides_is_reported_once_citing_both_fields() -> None:
    data = japan_region(0, pair="ap-northeast-3")
    data["rings"][2]["regions"][1]["pair"] = "ap-northeast-1"
    assert problems(data) == [
        "rings[2].regions: ap-northeast-1 and ap-northeast-3 are a pair (rings[2].regions[0].pair, "
        "rings[2].regions[1].pair) but both are in ring 'japan': put them in different rings so one failure "
        "cannot take both"
    ]


def test_a_pair_in_different_rings_is_accepted_either_way_round() -> None:
    assert problems(split_japan(pair="ap-northeast-3")) == []
    data = split_japan()
    data["rings"][3]["regions"][0]["pair"] = "ap-northeast-1"
    plan = Plan.model_validate(parse_plan(yaml.safe_dump(data)).model_dump(mode="json"))
    assert [r.pair for r in plan.rings[3].regions] == ["ap-northeast-1"]


def test_a_one_way_pair_binds_the_region_it_names_too() -> None:
    # Azure: Brazil South -> South Central US, whose own pair is North Central US.
    data = plan_data()
    data["rings"][1]["regions"] = [
        region("brazilsouth", "BR", pair="southcentralus"),
        region("southcentralus", pair="northcentralus"),
    ]
    data["rings"][0]["regions"].append(region("northcentralus"))
    assert problems(data) == [
        "rings[1].regions: brazilsouth and southcentralus are a pair (rings[1].regions[0].pair) but both are in "
        "ring 'na-eu': put them in different rings so one failure cannot take both"
    ]
    data["rings"][0]["regions"].append(data["rings"][1]["regions"].pop(0))  # Brazil South into canary
    assert problems(data) == []


def test_a_pair_naming_no_region_of_the_plan_or_itself_is_refused() -> None:
    assert problems(japan_region(0, pair="ap-northeast-9")) == [
        "rings[2].regions[0].pair: pair 'ap-northeast-9' is not a region of the plan (did you mean 'ap-northeast-3'?)"
    ]
    assert problems(japan_region(1, pair="ap-northeast-3")) == [
        "rings[2].regions[1].pair: region 'ap-northeast-3' cannot be its own pair; name the other region"
    ]
    assert problems(japan_region(0, pair="AP NE 3")) == [
        "rings[2].regions[0].pair: String should match pattern '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' (got 'AP NE 3')"
    ]


def test_a_pair_with_a_staging_region_counts_and_staging_is_a_ring_too() -> None:
    data = plan_data()
    data["staging"]["regions"][0]["pair"] = "canary-1"  # staging before canary: different rings
    assert problems(data) == []
    data["staging"]["regions"].append(region("staging-2", failure_domain="lab"))
    data["staging"]["regions"][0]["failure_domain"] = "lab"
    assert problems(data) == [
        "staging.regions: staging-1 and staging-2 share failure_domain 'lab' but both are in ring 'staging': put "
        "them in different rings so one failure cannot take both"
    ]


def test_a_failure_domain_shared_in_one_ring_is_refused_and_across_rings_accepted() -> None:
    data = plan_data()
    data["rings"][1]["regions"].append(region("us-east-2", failure_domain="virginia"))
    data["rings"][1]["regions"][0]["failure_domain"] = "virginia"  # us-east-1
    data["rings"][1]["regions"][1]["failure_domain"] = "dublin"
    assert problems(data) == [
        "rings[1].regions: us-east-1 and us-east-2 share failure_domain 'virginia' but both are in ring 'na-eu': "
        "put them in different rings so one failure cannot take both"
    ]
    data["rings"][0]["regions"].append(data["rings"][1]["regions"].pop())  # us-east-2 into canary
    data["staging"]["regions"][0]["failure_domain"] = "virginia"
    assert problems(data) == []


def test_three_regions_of_one_failure_domain_are_each_reported_with_the_first() -> None:
    data = plan_data()
    data["rings"][1]["regions"] = [region(f"r{n}", failure_domain="site-a") for n in range(3)]
    assert [line.split(" share ")[0] for line in problems(data)] == [
        "rings[1].regions: r0 and r1",
        "rings[1].regions: r0 and r2",
    ]


def test_japan_may_be_split_into_japanese_only_rings_that_end_the_plan() -> None:
    data = split_japan(pair="ap-northeast-3")
    assert problems(data) == []
    data["rings"][2]["regions"].append(region("ap-northeast-2", "KR"))  # Korea alongside Tokyo, before Osaka
    assert problems(data) == [
        "rings[2].regions[0].country: Japan must be last: region 'ap-northeast-1' (country 'JP') is in ring "
        "'japan-east', but only the final ring 'japan-west' may contain Japanese regions"
    ]
    data = split_japan()
    data["rings"][1:3] = [data["rings"][2], data["rings"][1]]  # japan-east before na-eu
    assert problems(data) == [
        "rings[1].regions[0].country: Japan must be last: region 'ap-northeast-1' (country 'JP') is in ring "
        "'japan-east', but only the final ring 'japan-west' may contain Japanese regions"
    ]
    data = split_japan()
    data["rings"][3]["regions"].append(region("ap-northeast-2", "KR"))  # a mixed final ring: Korea after Tokyo
    assert problems(data) == [
        "rings[2].regions[0].country: Japan must be last: region 'ap-northeast-1' (country 'JP') is in ring "
        "'japan-east', but only the final ring 'japan-west' may contain Japanese regions"
    ]
    data = split_japan()
    data["rings"][0]["regions"][0]["country"] = "JP"  # canary in Japan
    assert problems(data)[0].endswith(
        "but only the final rings 'japan-east', 'japan-west' may contain Japanese regions"
    )


def test_plans_without_pairs_are_unchanged_and_the_new_fields_default_to_none() -> None:
    plan = Plan.model_validate(plan_data())
    assert all(r.pair is None and r.failure_domain is None for ring_ in plan.stages for r in ring_.regions)


def test_a_stored_plan_decodes_with_its_pairs_and_without_them() -> None:
    plan = parse_plan(yaml.safe_dump(split_japan(pair="ap-northeast-3", failure_domain="kanto")))
    converter = DATA_CONVERTER.payload_converter
    [payload] = converter.to_payloads([plan])
    [decoded] = converter.from_payloads([payload], [Plan])
    assert decoded == plan and decoded.rings[2].regions[0].pair == "ap-northeast-3"
    data = json.loads(payload.data)  # as a worker from before these fields wrote it
    for stage in [data["staging"], *data["rings"]]:
        for entry in stage["regions"]:
            del entry["pair"], entry["failure_domain"]
    older = Payload(metadata=dict(payload.metadata), data=json.dumps(data).encode())
    [decoded] = converter.from_payloads([older], [Plan])
    assert all(r.pair is None and r.failure_domain is None for stage in decoded.stages for r in stage.regions)


def test_code_building_a_plan_gets_the_rule_too() -> None:
    with pytest.raises(ValueError, match="are a pair"):
        Plan.model_validate(japan_region(0, pair="ap-northeast-3"))


def test_the_schema_describes_pair_and_failure_domain() -> None:
    properties = Plan.model_json_schema()["$defs"]["Region"]["properties"]
    assert "different rings" in properties["pair"]["description"]
    assert "different rings" in properties["failure_domain"]["description"]


def test_ringctl_validate_prints_the_one_line_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(japan_region(0, pair="ap-northeast-3")), encoding="utf-8")
    result = ringctl("validate", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{path}: {PAIR_IN_JAPAN}"]
    assert "Traceback" not in result.stdout + result.stderr
    path.write_text(yaml.safe_dump(split_japan(pair="ap-northeast-3")), encoding="utf-8")
    result = ringctl("validate", str(path))
    assert result.returncode == 0, result.stderr
