"""rings.yaml validation: every invalid case names the file, the field path and the value, without a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ringctl.core.errors import PlanError
from ringctl.core.planfile import load_plan
from tests.support.cli_runs import ringctl
from tests.support.plans import gate, plan_data, region, ring

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: Any, name: str = "rings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_shipped_plan_is_valid_with_japan_last_and_guarded() -> None:
    plan = load_plan(ROOT / "rings.yaml")
    assert [r.name for r in plan.stages] == ["staging", "canary", "na-eu", "apac", "japan"]
    japan = plan.rings[-1]
    assert {r.name for r in japan.regions} == {"ap-northeast-1", "ap-northeast-3"}
    assert {r.country for r in japan.regions} == {"JP"} and japan.approval.required
    assert all(r.country != "JP" for ring_ in plan.stages[:-1] for r in ring_.regions)
    result = ringctl("validate", "rings.yaml")
    assert result.returncode == 0, result.stderr
    assert "rings.yaml: ok" in result.stdout


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = plan_data()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()

INVALID: dict[str, tuple[Any, str]] = {
    "missing field": (
        _with(("rings", 1, "regions", 0, "kube_context"), _DELETE),
        "rings[1].regions[0].kube_context: field required",
    ),
    "wrong type": (
        _with(("rings", 1, "max_parallel"), "many"),
        "rings[1].max_parallel: Input should be a valid integer",
    ),
    "unknown field": (_with(("rings", 0, "bake_time"), "5m"), "rings[0].bake_time: unknown field"),
    "negative duration": (
        _with(("rings", 0, "bake"), "-5m"),
        "rings[0].bake: duration must not be negative, got '-5m'",
    ),
    "bad duration": (_with(("staging", "bake"), "soon"), "staging.bake: expected a duration such as"),
    "empty rings": (_with(("rings",), []), "rings: List should have at least 1 item after validation, not 0"),
    "ring without regions": (_with(("rings", 0, "regions"), []), "rings[0].regions: List should have at least 1 item"),
    "duplicate ring": (
        _with(("rings", 1, "name"), "canary"),
        "rings[1].name: duplicate ring name 'canary' (already used at rings[0].name)",
    ),
    "duplicate region": (
        _with(("rings", 1, "regions", 1), region("canary-1")),
        "rings[1].regions[1].name: duplicate region name 'canary-1' (already used at rings[0].regions[0].name)",
    ),
    "japan not last": (
        _with(("rings", 0, "regions", 0), region("tokyo-canary", "JP")),
        "rings[0].regions[0].country: Japan must be last: region 'tokyo-canary' (country 'JP') is in ring 'canary'",
    ),
    "japan in staging": (
        _with(("staging",), ring("staging", region("tokyo-staging", "JP"))),
        "staging.regions[0].country: Japan must be last",
    ),
    "bad enum": (
        _with(("rings", 0, "on_failure"), "panic"),
        "rings[0].on_failure: Input should be 'rollback' or 'halt' (got 'panic')",
    ),
    "bad country": (
        _with(("rings", 0, "regions", 0, "country"), "Japan"),
        "rings[0].regions[0].country: String should match pattern",
    ),
    "zero interval": (
        _with(("rings", 0, "gates", 0, "interval"), "0s"),
        "rings[0].gates[0].interval: interval must be greater than 0s",
    ),
    "min_samples without query": (
        _with(("rings", 0, "gates", 0, "min_samples"), 100),
        "rings[0].gates[0]: min_samples > 0 needs a samples_query",
    ),
    "not a mapping": ("- just\n- a list\n", "expected a mapping with services, staging and rings"),
    "bad yaml": ("services: [\n  name: x\nrings: {", "invalid YAML"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_plan_is_reported_with_file_field_and_value(tmp_path: Path, case: str) -> None:
    data, expected = INVALID[case]
    path = write(tmp_path, data)
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert any(expected in f"{line}" for line in error.value.problems), error.value.problems
    result = ringctl("validate", str(path))
    assert result.returncode == 1
    assert f"{path}: " in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = ringctl("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "nope.yaml: cannot read file: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_is_json_schema_of_the_plan() -> None:
    result = ringctl("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Plan" and set(schema["required"]) == {"services", "staging", "rings"}
    kinds = ("ThresholdGate", "BurnRateGate", "ErrorBudgetGate")
    assert all("missing_data" in schema["$defs"][kind]["properties"] for kind in kinds)


def test_x_keys_hold_anchors_and_are_not_plan_fields(tmp_path: Path) -> None:
    text = "x-common: &bake {bake: 5m}\n" + yaml.safe_dump(plan_data())
    assert load_plan(write(tmp_path, text)).staging.name == "staging"


def test_every_plan_wide_problem_is_reported_at_once_where_it_is(tmp_path: Path) -> None:
    data = _with(("rings", 1, "name"), "canary")  # a duplicate ring name ...
    data["rings"][0]["regions"][0] = region("tokyo-canary", "JP")  # ... and Japan before the last ring
    data["groups"] = {"release-managers": []}  # ... and an empty group
    path = write(tmp_path, data)
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert error.value.problems == [
        "rings[1].name: duplicate ring name 'canary' (already used at rings[0].name)",
        "groups.release-managers: a group needs at least one member",
        "rings[0].regions[0].country: Japan must be last: region 'tokyo-canary' (country 'JP') is in ring 'canary', "
        "but only the final ring 'japan' may contain Japanese regions",
    ]
    result = ringctl("validate", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{path}: {problem}" for problem in error.value.problems]


def test_duplicate_gate_names_in_a_ring_are_each_reported_at_the_repeat(tmp_path: Path) -> None:
    data = plan_data()
    data["rings"][0]["gates"] = [gate(), gate(), gate(name="latency"), gate(name="latency")]
    with pytest.raises(PlanError) as error:
        load_plan(write(tmp_path, data))
    assert error.value.problems == [
        "rings[0].gates[1].name: duplicate gate name 'error-ratio' (already used at gates[0].name)",
        "rings[0].gates[3].name: duplicate gate name 'latency' (already used at gates[2].name)",
    ]


def test_a_release_carries_the_plan_of_its_service_only() -> None:
    plan = load_plan(ROOT / "rings.yaml")
    assert len(plan.services) > 1
    mine = plan.for_service("checkout")
    assert [s.name for s in mine.services] == ["checkout"]
    assert mine.model_dump(exclude={"services"}) == plan.model_dump(exclude={"services"})
    assert mine.gates_for("checkout", mine.rings[0]) == plan.gates_for("checkout", plan.rings[0])
    with pytest.raises(KeyError):
        plan.for_service("nope")
