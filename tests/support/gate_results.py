"""A gate result for tests that need one without evaluating a gate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ringctl.activities.models import GateDecision, GateResult


def gate_result(gate: str, region: str, decision: GateDecision, **fields: Any) -> GateResult:
    """``gate``'s result in ``region``: a threshold gate's ``0 <= 0.01`` unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "query": "q",
        "value": 0.0,
        "threshold": 0.01,
        "comparison": "<=",
        "samples": 10,
        "reason": "r",
        "evaluated_at": datetime(2026, 12, 3, tzinfo=UTC),
    }
    return GateResult(gate=gate, region=region, decision=decision, **(values | fields))
