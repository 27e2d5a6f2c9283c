"""``bake: {min, until: evidence, max}`` and ``kind: comparison`` in a plan (issue 14)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ringctl.core.bake import EvidenceBake, bake_words
from ringctl.core.plan import ComparisonGate, Plan
from ringctl.core.timescale import scale_plan
from tests.support.cli_runs import ringctl
from tests.support.plans import plan_data, region, ring
from tests.support.record_histories import COMPARISON


def data(bake: Any, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    canary = ring("canary", region("canary-1"), bake=bake, gates=[gate or COMPARISON])
    return plan_data(rings=[canary, ring("na-eu", region("us-east-1"))])


def validate(tmp_path: Path, plan: dict[str, Any]) -> tuple[int, str]:
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(plan))
    done = ringctl("validate", str(path))
    return done.returncode, done.stdout + done.stderr


def test_an_evidence_bake_reads_its_min_and_max_and_speed_shortens_both() -> None:
    plan = Plan.model_validate(data({"min": "1h", "until": "evidence", "max": "6h"}))
    canary = plan.rings[0]
    assert isinstance(canary.bake, EvidenceBake)
    assert (canary.bake_min, canary.bake_max) == (timedelta(hours=1), timedelta(hours=6))
    assert bake_words(canary.bake) == "1h, then until evidence (at most 6h)"
    fast = scale_plan(plan, 100).rings[0]
    assert (fast.bake_min, fast.bake_max) == (timedelta(seconds=36), timedelta(seconds=216))
    assert Plan.model_validate_json(plan.model_dump_json()) == plan, "a payload decodes to the same plan"
    plain = Plan.model_validate(data("2h")).rings[0]
    assert (plain.bake_min, plain.bake_max, bake_words(plain.bake)) == (timedelta(hours=2), None, "2h")


def test_a_comparison_gate_takes_its_tolerance_as_its_threshold() -> None:
    gate = Plan.model_validate(data("1s", {**COMPARISON, "tolerance": 2})).rings[0].gates[0]
    assert isinstance(gate, ComparisonGate)
    assert (gate.tolerance, gate.threshold, str(gate.comparison), gate.confidence) == (2, 2, "<", 0.95)


@pytest.mark.parametrize(
    ("bake", "gate", "message"),
    [
        ({"min": "1h", "until": "evidence", "max": "5x"}, None, "rings[0].bake.max: expected a duration"),
        ({"min": "1h", "until": "evidence", "max": "30m"}, None, "max (30m) must not be shorter than min (1h)"),
        ({"min": "1h", "until": "forever"}, None, "rings[0].bake.until: "),
        ({"min": "1h", "untill": "evidence"}, None, "rings[0].bake.untill: unknown field"),
        (
            {"min": "1h", "until": "evidence"},
            {"name": "error-ratio", "query": "q", "comparison": "<", "threshold": 1},
            "rings[0]: bake until: evidence needs a gate of kind comparison in the ring",
        ),
        ("1h", {**COMPARISON, "threshold": 2}, "a comparison gate takes tolerance and confidence, not threshold"),
        ("1h", {**COMPARISON, "tolerance": 1}, "rings[0].gates[0].tolerance: "),
    ],
)
def test_a_bad_evidence_plan_says_file_field_and_value_in_a_line(
    tmp_path: Path, bake: Any, gate: dict[str, Any] | None, message: str
) -> None:
    code, output = validate(tmp_path, data(bake, gate))
    assert code == 1 and message in output, output
    assert "Traceback" not in output
    assert all("rings.yaml: rings[0]" in line for line in output.strip().splitlines()), "one line per problem"


def test_the_shipped_plans_commented_comparison_example_is_a_valid_canary() -> None:
    """``rings.yaml`` shows a comparison gate for canary in comments; uncommented, it must load as written."""
    lines = (Path(__file__).resolve().parents[2] / "rings.yaml").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() == "#   bake: {min: 1h, until: evidence, max: 6h}")
    block = []
    for line in lines[first:]:
        if not line.startswith("  #   "):
            break
        block.append(line.replace("  #   ", "", 1))
    canary = yaml.safe_load("\n".join(block))
    plan = Plan.model_validate(data(canary["bake"], canary["gates"][0]))
    assert plan.rings[0].bake_max == timedelta(hours=6) and isinstance(plan.rings[0].gates[0], ComparisonGate)
