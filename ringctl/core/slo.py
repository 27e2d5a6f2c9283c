"""Service level objectives, and the gates they compile into.

An :class:`Slo` of a service compiles into gates (:mod:`ringctl.core.gates`):
threshold and burn-rate gates for a ring's bake (:meth:`Slo.gates`) and an
error-budget gate checked before its deploy (:meth:`Slo.budget_gate`), with a
ring's :class:`SloOverride` applied. :class:`ringctl.core.plan.Plan` puts them
together per ring; these models are re-exported from :mod:`ringctl.core.plan`.

Counts are bounded by :data:`~ringctl.core.gates.MAX_CONSECUTIVE_HEALTHY` and
:data:`~ringctl.core.gates.MAX_SAMPLES`, floats must be finite, and an
evaluation ``interval`` is an :data:`~ringctl.core.gates.EvaluationInterval`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from ringctl.core.durations import Duration, PositiveDuration, format_duration
from ringctl.core.gates import (
    MAX_CONSECUTIVE_HEALTHY,
    MAX_SAMPLES,
    BurnRateGate,
    Comparison,
    ErrorBudgetGate,
    EvaluationInterval,
    Gate,
    GateKind,
    MissingData,
    ThresholdGate,
)
from ringctl.core.planchecks import ConfigModel

__all__ = ["BurnRate", "Name", "Slo", "SloOverride"]

#: A DNS-label-like name: services, rings, regions, SLOs.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=63)]


class BurnRate(ConfigModel):
    """One multi-window burn-rate check: breach when both windows burn faster than ``factor``.

    The SRE workbook's page-worthy pair is ``{short: 5m, long: 1h, factor: 14.4}``
    (2 % of a 30-day budget in an hour).
    """

    short: PositiveDuration
    long: Duration
    factor: float = Field(gt=0, description="burn rate: observed bad ratio / (1 - objective)")

    @model_validator(mode="after")
    def _ordered(self) -> BurnRate:
        if self.long <= self.short:
            raise ValueError("long must be longer than short")
        return self


class Slo(ConfigModel):
    """A service level objective: an SLI in PromQL, an objective over a window, and how gates use it.

    ``sli_type: error_ratio`` means ``sli`` gives the fraction of *bad* events
    over ``{window}`` (0 when all is well): the threshold gate defaults to the
    objective (``1 - objective``), and burn-rate and error-budget checks apply.
    ``sli_type: value`` is any other measurement (e.g. a latency quantile from a
    histogram): it needs an explicit ``threshold`` and has no budget.
    """

    name: Name
    description: str = ""
    sli: str = Field(min_length=1, description="PromQL template of the SLI over {window}")
    sli_type: Literal["error_ratio", "value"] = "error_ratio"
    samples_query: str | None = Field(default=None, description="PromQL: requests over {window}")
    objective: float = Field(gt=0, lt=100, description="percent of good events, e.g. 99.9")
    window: PositiveDuration = Field(
        default=timedelta(days=28), description="SLO window, over which the budget is counted"
    )
    comparison: Comparison = Comparison.LE
    threshold: float | None = Field(default=None, description="threshold gate on the SLI; error_ratio: 1 - objective")
    gate_window: PositiveDuration = Field(default=timedelta(minutes=5), description="{window} of the threshold gate")
    burn_rate: list[BurnRate] = Field(default_factory=list)
    error_budget: bool = Field(default=False, description="check the remaining budget before deploying each ring")
    budget_query: str | None = Field(
        default=None, description="bad-event ratio of the region over {window}, across versions"
    )
    budget_samples_query: str | None = None
    min_samples: float = Field(
        default=0, ge=0, le=MAX_SAMPLES, description="fewer requests in the window: missing data"
    )
    missing_data: MissingData = MissingData.HOLD
    interval: EvaluationInterval = Field(
        default=timedelta(minutes=1), description="evaluation interval during the bake"
    )
    consecutive_healthy: int = Field(
        default=1, ge=1, le=MAX_CONSECUTIVE_HEALTHY, description="healthy evaluations in a row to end the bake"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Slo:
        if self.min_samples > 0 and not self.samples_query:
            raise ValueError("min_samples > 0 needs a samples_query that counts the requests")
        if self.sli_type == "value":
            if self.threshold is None:
                raise ValueError("an SLO with sli_type 'value' needs a threshold")
            if self.burn_rate or self.error_budget:
                raise ValueError("burn_rate and error_budget need sli_type 'error_ratio' (a bad-event ratio)")
        if self.error_budget and not self.budget_query:
            raise ValueError("error_budget: true needs a budget_query (the region's bad-event ratio, all versions)")
        return self

    @property
    def good_fraction(self) -> float:
        """The objective as a fraction (99.9 -> 0.999)."""
        return self.objective / 100

    def gates(self, override: SloOverride | None = None) -> list[Gate]:
        """The bake gates of this SLO (threshold, then one per burn-rate check), with ``override`` applied."""
        slo = self.model_copy(update=override.changes()) if override else self
        common: dict[str, Any] = {
            "query": slo.sli,
            "samples_query": slo.samples_query,
            "min_samples": slo.min_samples,
            "missing_data": slo.missing_data,
            "interval": slo.interval,
            "consecutive_healthy": slo.consecutive_healthy,
            "slo": slo.name,
        }
        threshold = slo.threshold if slo.threshold is not None else round(1 - slo.good_fraction, 12)
        threshold_gate = ThresholdGate(
            name=slo.name, comparison=slo.comparison, threshold=threshold, window=slo.gate_window, **common
        )
        return [threshold_gate, *slo._burn_rate_gates("burn", common)]

    def alarm_gates(self, override: SloOverride | None = None) -> list[Gate]:
        """The burn-rate checks over every version (``budget_query``), alarms before a ring; none without one.

        Named ``<slo>:alarm-burn-<short>-<long>``, so their results never mix with the bake's.
        """
        slo = self.model_copy(update=override.changes()) if override else self
        if not slo.budget_query:
            return []
        common: dict[str, Any] = {
            "query": slo.budget_query,
            "samples_query": slo.budget_samples_query,
            "min_samples": slo.min_samples if slo.budget_samples_query else 0,
            "missing_data": slo.missing_data,
            "interval": slo.interval,
            "slo": slo.name,
        }
        return slo._burn_rate_gates("alarm-burn", common)

    def _burn_rate_gates(self, prefix: str, common: dict[str, Any]) -> list[Gate]:
        """One burn-rate gate per ``burn_rate`` check, named ``<slo>:<prefix>-<short>-<long>``."""
        return [
            BurnRateGate(
                name=f"{self.name}:{prefix}-{format_duration(check.short)}-{format_duration(check.long)}",
                kind=GateKind.BURN_RATE,
                comparison=Comparison.LE,
                threshold=check.factor,
                window=check.short,
                long_window=check.long,
                objective=self.good_fraction,
                **common,
            )
            for check in self.burn_rate
        ]

    def budget_gate(self, override: SloOverride | None = None) -> ErrorBudgetGate | None:
        """The error-budget gate checked before a ring, or ``None`` if the SLO (as overridden) has none."""
        slo = self.model_copy(update=override.changes()) if override else self
        if not slo.error_budget or not slo.budget_query:
            return None
        return ErrorBudgetGate(
            name=f"{slo.name}:budget",
            kind=GateKind.ERROR_BUDGET,
            query=slo.budget_query,
            samples_query=slo.budget_samples_query,
            min_samples=slo.min_samples if slo.budget_samples_query else 0,
            comparison=Comparison.GT,
            threshold=0.0,
            window=slo.window,
            objective=slo.good_fraction,
            missing_data=slo.missing_data,
            interval=slo.interval,
            slo=slo.name,
        )


class SloOverride(ConfigModel):
    """Per-ring changes to one SLO; unset fields keep the service's value."""

    threshold: float | None = None
    burn_rate: list[BurnRate] | None = None
    error_budget: bool | None = None
    min_samples: float | None = Field(default=None, ge=0, le=MAX_SAMPLES)
    missing_data: MissingData | None = None
    interval: EvaluationInterval | None = None
    consecutive_healthy: int | None = Field(default=None, ge=1, le=MAX_CONSECUTIVE_HEALTHY)
    gate_window: PositiveDuration | None = None

    def changes(self) -> dict[str, object]:
        """The fields this override sets."""
        return {key: value for key, value in self if value is not None}
