"""Gates and SLOs: the health checks between rings, and the service level objectives they come from.

A :class:`Gate` is a PromQL check evaluated per region during a ring's bake (or,
for ``error_budget``, before its deploy). An :class:`Slo` of a service compiles
into gates (:meth:`Slo.gates`, :meth:`Slo.budget_gate`), with a ring's
:class:`SloOverride` applied. :class:`ringctl.core.plan.Plan` puts them together per
ring; these models are re-exported from :mod:`ringctl.core.plan`.

In a plan file an evaluation ``interval`` is at least :data:`MIN_INTERVAL` (a
shorter one floods the release's history with evaluations); counts are bounded
by :data:`MAX_CONSECUTIVE_HEALTHY` and :data:`MAX_SAMPLES`, and floats must be
finite. Like every plan-file check (:mod:`ringctl.core.planchecks`), the interval
minimum is not applied again when a stored payload is decoded.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from ringctl.core.durations import Duration, check_positive, format_duration
from ringctl.core.planchecks import ConfigModel, plan_file_checks

__all__ = [
    "MAX_CONSECUTIVE_HEALTHY",
    "MAX_SAMPLES",
    "MIN_INTERVAL",
    "BurnRate",
    "Comparison",
    "Gate",
    "GateKind",
    "MissingData",
    "Name",
    "Slo",
    "SloOverride",
]

#: Most healthy evaluations in a row a gate may ask for.
MAX_CONSECUTIVE_HEALTHY = 1000
#: Largest ``min_samples`` (requests in a window).
MAX_SAMPLES = 1e12
#: Shortest evaluation interval in a plan file: a shorter one floods the release's history.
MIN_INTERVAL = timedelta(seconds=1)

#: A DNS-label-like name: services, rings, regions, SLOs.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=63)]


def _interval(value: timedelta, info: ValidationInfo, field: str = "") -> timedelta:
    """An evaluation interval: greater than 0s; in a plan file, at least :data:`MIN_INTERVAL`."""
    check_positive(value, field)
    if value < MIN_INTERVAL and plan_file_checks(info):
        raise ValueError(f"{field + ' ' if field else ''}must be at least {format_duration(MIN_INTERVAL)}")
    return value


class MissingData(StrEnum):
    """How a gate treats missing or doubtful data (no series, too little traffic, query error)."""

    FAIL = "fail"
    HOLD = "hold"
    PASS = "pass"


class Comparison(StrEnum):
    """The gate is healthy when ``value <comparison> threshold`` holds."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    def holds(self, value: float, threshold: float) -> bool:
        """Whether ``value <self> threshold`` is true."""
        return {
            Comparison.LT: value < threshold,
            Comparison.LE: value <= threshold,
            Comparison.GT: value > threshold,
            Comparison.GE: value >= threshold,
        }[self]


class GateKind(StrEnum):
    """How a gate turns its measurement into the value compared with its threshold.

    ``threshold``: the query's value as is. ``burn_rate``: the query is a
    bad-event ratio, measured over ``window`` (short) and ``long_window``; each
    is divided by the error budget ``1 - objective`` and the gate breaches when
    *both* burn rates exceed ``threshold`` (the SRE workbook's multi-window
    alert), so the compared value is the smaller of the two. ``error_budget``:
    the query is the bad-event ratio over the SLO window and the compared value
    is the budget left, ``1 - ratio / (1 - objective)``.
    """

    THRESHOLD = "threshold"
    BURN_RATE = "burn_rate"
    ERROR_BUDGET = "error_budget"


class Gate(ConfigModel):
    """A check evaluated per region during a ring's bake (or, for ``error_budget``, before its deploy).

    ``query`` and ``samples_query`` are PromQL templates; ``{service}``,
    ``{region}``, ``{version}``, ``{previous_version}`` and ``{window}`` are
    substituted before the query is sent.
    """

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9:._-]*[a-z0-9])?$", max_length=127)]
    kind: GateKind = GateKind.THRESHOLD
    query: str = Field(min_length=1, description="SLI as PromQL; one scalar or single-series vector")
    comparison: Comparison = Field(description="healthy when value <comparison> threshold")
    threshold: float
    window: Duration = Field(default=timedelta(minutes=5), description="range for rate()/increase() in the query")
    long_window: Duration | None = Field(default=None, description="burn_rate: the long window")
    objective: float | None = Field(
        default=None, gt=0, lt=1, description="burn_rate, error_budget: fraction of good events, e.g. 0.999"
    )
    interval: Duration = Field(default=timedelta(minutes=1), description="evaluation interval during the bake")
    samples_query: str | None = Field(
        default=None, description="PromQL giving the request count over the window; required when min_samples > 0"
    )
    min_samples: float = Field(
        default=0, ge=0, le=MAX_SAMPLES, description="below this many samples the result is missing data"
    )
    missing_data: MissingData = MissingData.HOLD
    consecutive_healthy: int = Field(
        default=1, ge=1, le=MAX_CONSECUTIVE_HEALTHY, description="passing evaluations in a row needed to end the bake"
    )
    slo: str | None = Field(default=None, description="the SLO this gate was compiled from, if any")

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        return _interval(value, info, "interval")

    @field_validator("window")
    @classmethod
    def _window_positive(cls, value: timedelta) -> timedelta:
        return check_positive(value, "window")

    @model_validator(mode="after")
    def _samples_query_for_min_samples(self) -> Gate:
        if self.min_samples > 0 and not self.samples_query:
            raise ValueError("min_samples > 0 needs a samples_query that counts the requests")
        if self.kind is not GateKind.THRESHOLD and self.objective is None:
            raise ValueError(f"a {self.kind} gate needs an objective (fraction of good events, e.g. 0.999)")
        if self.kind is GateKind.BURN_RATE:
            if self.long_window is None:
                raise ValueError("a burn_rate gate needs a long_window")
            if self.long_window <= self.window:
                raise ValueError("long_window must be longer than window")
        return self


class BurnRate(ConfigModel):
    """One multi-window burn-rate check: breach when both windows burn faster than ``factor``.

    The SRE workbook's page-worthy pair is ``{short: 5m, long: 1h, factor: 14.4}``
    (2 % of a 30-day budget in an hour).
    """

    short: Duration
    long: Duration
    factor: float = Field(gt=0, description="burn rate: observed bad ratio / (1 - objective)")

    @model_validator(mode="after")
    def _ordered(self) -> BurnRate:
        if self.short <= timedelta(0):
            raise ValueError("short must be greater than 0s")
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
    window: Duration = Field(default=timedelta(days=28), description="SLO window, over which the budget is counted")
    comparison: Comparison = Comparison.LE
    threshold: float | None = Field(default=None, description="threshold gate on the SLI; error_ratio: 1 - objective")
    gate_window: Duration = Field(default=timedelta(minutes=5), description="{window} of the threshold gate")
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
    interval: Duration = Field(default=timedelta(minutes=1), description="evaluation interval during the bake")
    consecutive_healthy: int = Field(
        default=1, ge=1, le=MAX_CONSECUTIVE_HEALTHY, description="healthy evaluations in a row to end the bake"
    )

    @field_validator("window", "gate_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        return check_positive(value)

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        return _interval(value, info)

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
        gates = [Gate(name=slo.name, comparison=slo.comparison, threshold=threshold, window=slo.gate_window, **common)]
        for check in slo.burn_rate:
            gates.append(
                Gate(
                    name=f"{slo.name}:burn-{format_duration(check.short)}-{format_duration(check.long)}",
                    kind=GateKind.BURN_RATE,
                    comparison=Comparison.LE,
                    threshold=check.factor,
                    window=check.short,
                    long_window=check.long,
                    objective=slo.good_fraction,
                    **common,
                )
            )
        return gates

    def budget_gate(self, override: SloOverride | None = None) -> Gate | None:
        """The error-budget gate checked before a ring, or ``None`` if the SLO (as overridden) has none."""
        slo = self.model_copy(update=override.changes()) if override else self
        if not slo.error_budget or not slo.budget_query:
            return None
        return Gate(
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
    interval: Duration | None = None
    consecutive_healthy: int | None = Field(default=None, ge=1, le=MAX_CONSECUTIVE_HEALTHY)
    gate_window: Duration | None = None

    @field_validator("gate_window")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else check_positive(value)

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        return None if value is None else _interval(value, info)

    def changes(self) -> dict[str, object]:
        """The fields this override sets."""
        return {key: value for key, value in self if value is not None}
