"""Gates: the PromQL checks between rings, one model per kind, each deriving the value it compares.

A gate is evaluated per region during a ring's bake (an ``error_budget`` gate
before the ring's deploy). The kinds share the fields of :class:`BaseGate` and
differ in what their query measures and how the measurements become the value
compared with ``threshold``:

* :class:`ThresholdGate` (``kind: threshold``, the default): the query's value as is.
* :class:`BurnRateGate`: the query is a bad-event ratio, measured over ``window``
  (short) and ``long_window``; each is divided by the error budget ``1 -
  objective`` and the gate breaches only when *both* burn faster than
  ``threshold`` (the SRE workbook's multi-window alert), so the compared value
  is the smaller burn rate.
* :class:`ErrorBudgetGate`: the query is the bad-event ratio over the SLO window;
  the compared value is the budget left, ``1 - ratio / (1 - objective)``.
* :class:`ComparisonGate`: ``query`` counts errors and ``samples_query`` requests
  since the ring started; the new version is compared with control by the
  sequential test of :mod:`ringctl.core.evidence` (:mod:`ringctl.activities.comparison`).

:data:`Gate` is their union, discriminated on ``kind``. Providers measure and
:func:`ringctl.activities.gates.judge` decides; a gate says which windows it is
measured over (:meth:`~BaseGate.windows`), derives its value
(:meth:`~BaseGate.derive`) and words the outcome (:meth:`~BaseGate.describe`).

A stored payload written before the union (one flat model carrying every
kind's fields, those of other kinds null) still decodes: payload decoding drops
the fields a kind does not have (:class:`~ringctl.core.planchecks.ConfigModel`).
In a plan file an evaluation ``interval`` is at least :data:`MIN_INTERVAL`;
like every plan-file check that minimum is not applied again to payloads.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, NoReturn, Self

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from ringctl.core.durations import PositiveDuration, format_duration
from ringctl.core.planchecks import ConfigModel, is_payload, plan_file_checks
from ringctl.core.planrules import Loc

__all__ = [
    "MAX_CONSECUTIVE_HEALTHY",
    "MAX_SAMPLES",
    "MIN_INTERVAL",
    "BaseGate",
    "BurnRateGate",
    "Comparison",
    "ComparisonGate",
    "ErrorBudgetGate",
    "EvaluationInterval",
    "Gate",
    "GateKind",
    "MissingData",
    "ThresholdGate",
]

#: Most healthy evaluations in a row a gate may ask for.
MAX_CONSECUTIVE_HEALTHY = 1000
#: Largest ``min_samples`` (requests in a window).
MAX_SAMPLES = 1e12
#: Shortest evaluation interval in a plan file: a shorter one floods the release's history.
MIN_INTERVAL = timedelta(seconds=1)


def _at_least_min_interval(value: timedelta, info: ValidationInfo) -> timedelta:
    if value < MIN_INTERVAL and plan_file_checks(info):
        raise ValueError(f"{info.field_name or 'interval'} must be at least {format_duration(MIN_INTERVAL)}")
    return value


#: An evaluation interval: greater than 0s; in a plan file, at least :data:`MIN_INTERVAL`.
EvaluationInterval = Annotated[PositiveDuration, AfterValidator(_at_least_min_interval)]


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
    """The ``kind`` of a gate, naming its model: see the module docstring for what each compares."""

    THRESHOLD = "threshold"
    BURN_RATE = "burn_rate"
    ERROR_BUDGET = "error_budget"
    COMPARISON = "comparison"


def _verdict(healthy: bool) -> str:
    return "within" if healthy else "breaches"


class BaseGate(ConfigModel):
    """The fields every gate kind has, and what each kind provides (:meth:`derive`, :meth:`describe`).

    ``query`` and ``samples_query`` are PromQL templates; ``{service}``,
    ``{region}``, ``{version}``, ``{previous_version}`` and ``{window}`` are
    substituted before the query is sent.
    """

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9:._-]*[a-z0-9])?$", max_length=127)]
    kind: GateKind
    query: str = Field(min_length=1, description="SLI as PromQL; one scalar or single-series vector")
    comparison: Comparison = Field(description="healthy when value <comparison> threshold")
    threshold: float
    window: PositiveDuration = Field(
        default=timedelta(minutes=5), description="range for rate()/increase() in the query"
    )
    interval: EvaluationInterval = Field(
        default=timedelta(minutes=1), description="evaluation interval during the bake"
    )
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

    @model_validator(mode="after")
    def _samples_query_for_min_samples(self) -> Self:
        if self.min_samples > 0 and not self.samples_query:
            raise ValueError("min_samples > 0 needs a samples_query that counts the requests")
        return self

    def windows(self) -> list[timedelta]:
        """The ``{window}`` values the gate is measured with, one measurement each."""
        return [self.window]

    def window_labels(self) -> list[str]:
        """How reasons name each of :meth:`windows` (``""``: the only one, unnamed)."""
        return [""]

    @abstractmethod
    def derive(self, values: list[float]) -> float:
        """The value compared with ``threshold``, from the measured values (one per :meth:`windows`)."""

    @abstractmethod
    def describe(self, values: list[float], healthy: bool) -> str:
        """The reason a judgement gives: the derived value of ``values`` and whether it is ``healthy``."""


class ThresholdGate(BaseGate):
    """A gate comparing the query's value with ``threshold``."""

    kind: Literal[GateKind.THRESHOLD] = GateKind.THRESHOLD

    def derive(self, values: list[float]) -> float:
        """The measured value as is."""
        return values[0]

    def describe(self, values: list[float], healthy: bool) -> str:
        """``0.02 breaches <= 0.01``."""
        return f"{self.derive(values):g} {_verdict(healthy)} {self.comparison} {self.threshold:g}"


class BurnRateGate(BaseGate):
    """A multi-window burn-rate gate: breaches when both windows burn the error budget faster than ``threshold``."""

    kind: Literal[GateKind.BURN_RATE]
    long_window: PositiveDuration = Field(description="the long window")
    objective: float = Field(gt=0, lt=1, description="fraction of good events, e.g. 0.999")

    @model_validator(mode="after")
    def _long_window_longer(self) -> Self:
        if self.long_window <= self.window:
            raise ValueError("long_window must be longer than window")
        return self

    def windows(self) -> list[timedelta]:
        """The short window, then the long one."""
        return [self.window, self.long_window]

    def window_labels(self) -> list[str]:
        """``short 5m``, ``long 1h``."""
        return [f"short {format_duration(self.window)}", f"long {format_duration(self.long_window)}"]

    def derive(self, values: list[float]) -> float:
        """``min(ratio_short, ratio_long) / (1 - objective)``: both windows must burn faster to breach."""
        # Rounded so that float noise (1 - 0.999 is 0.0010000000000000009) never decides a gate.
        return round(min(values) / (1 - self.objective), 9)

    def describe(self, values: list[float], healthy: bool) -> str:
        """``burn rate short 5m 20x, long 1h 20x: 20 breaches <= 14.4``."""
        burns = ", ".join(
            f"{label} {self.derive([v]):.3g}x" for label, v in zip(self.window_labels(), values, strict=False)
        )
        return f"burn rate {burns}: {self.derive(values):.3g} {_verdict(healthy)} {self.comparison} {self.threshold:g}"


class ErrorBudgetGate(BaseGate):
    """A gate on the error budget left over the SLO window, checked before a ring is deployed."""

    kind: Literal[GateKind.ERROR_BUDGET]
    objective: float = Field(gt=0, lt=1, description="fraction of good events, e.g. 0.999")

    def derive(self, values: list[float]) -> float:
        """``1 - ratio / (1 - objective)``: the fraction of the budget left (negative when overspent)."""
        return round(1 - values[0] / (1 - self.objective), 9)  # rounded: see BurnRateGate.derive

    def describe(self, values: list[float], healthy: bool) -> str:
        """``error budget left: 50.0% of the budget remains over 28d (bad ratio 0.0005, objective 0.999)``."""
        return (
            f"error budget {'left' if healthy else 'exhausted'}: {self.derive(values):.1%} of the budget remains "
            f"over {format_duration(self.window)} (bad ratio {values[0]:.3g}, objective {self.objective:g})"
        )


class ComparisonGate(BaseGate):
    """The new version's error rate against control's, decided on evidence (``kind: comparison``).

    ``query`` counts errors and ``samples_query`` requests of ``{version}`` in
    ``{region}`` over ``{window}``, which is the time since the ring started
    (so both are counts since then, e.g. ``sum(increase(...[{window}]))``).
    Treated is the new version in the ring's regions; control is the version
    it replaces, in the same regions (pods not yet updated) and in the regions
    the release has not reached yet. **fail** when errors at least
    ``tolerance`` times control's are established at ``confidence``, **pass**
    when ruled out; until then the ring keeps baking (see :mod:`ringctl.core.bake`).
    ``threshold`` is the tolerance and ``comparison`` is ``<``: a plan gives neither.
    """

    kind: Literal[GateKind.COMPARISON]
    query: str = Field(min_length=1, description="PromQL: errors of {version} in {region} over {window}")
    samples_query: str = Field(min_length=1, description="PromQL: requests of {version} in {region} over {window}")
    tolerance: float = Field(default=1.5, gt=1, le=16, description="fail at errors this many times control's")
    confidence: float = Field(
        default=0.95, ge=0.8, le=0.999, description="of each verdict (false fails at most 1 - it)"
    )
    comparison: Comparison = Comparison.LT
    threshold: float = 1.5

    @model_validator(mode="before")
    @classmethod
    def _threshold_is_tolerance(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        if not is_payload(info):
            given = [key for key in _NOT_COMPARED if key in data]
            if given:
                raise ValueError(f"a comparison gate takes tolerance and confidence, not {given[0]}")
        return {**data, "threshold": data.get("tolerance", 1.5), "comparison": Comparison.LT}

    def derive(self, values: list[float]) -> float:
        """The estimated ratio of the new version's error rate to control's."""
        return values[0]

    def describe(self, values: list[float], healthy: bool) -> str:
        """``errors 2.3x control, tolerance 1.5x`` (the evidence's own sentence says more)."""
        return f"errors {values[0]:.3g}x control, tolerance {self.tolerance:g}x"


#: Fields a comparison gate does not take: the tolerance is its threshold, its window the time since the ring started.
_NOT_COMPARED = ("threshold", "comparison", "window", "min_samples", "consecutive_healthy", "slo")

_KIND: TypeAdapter[GateKind] = TypeAdapter(GateKind)
_TAGS = frozenset(GateKind)


def _kind_of(data: Any) -> str:
    """The tag of the model for ``data``: its ``kind``; ``threshold`` if it has none (or not a gate's)."""
    kind = data.get("kind") if isinstance(data, dict) else getattr(data, "kind", None)
    return str(kind) if isinstance(kind, str) and kind in _TAGS else GateKind.THRESHOLD


def _reraise_at(errors: list[ErrorDetails], at: Callable[[Loc], Loc]) -> NoReturn:
    """Raise ``errors`` again, each at the location ``at`` makes of its own."""
    raise ValidationError.from_exception_data(
        "Gate",
        [InitErrorDetails(type=e["type"], loc=at(e["loc"]), input=e["input"], ctx=e.get("ctx", {})) for e in errors],
    )


def _validate_gate(data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a gate as the model its ``kind`` names, errors located as if the union were not there.

    An unknown ``kind`` is an error at ``kind``; a tagged union would name the
    tag in every location (``gates[0].threshold.interval``), so it is dropped.
    """
    if isinstance(data, dict) and "kind" in data:
        try:
            _KIND.validate_python(data["kind"])
        except ValidationError as exc:
            _reraise_at(exc.errors(), lambda loc: ("kind", *loc))
    try:
        return handler(data)
    except ValidationError as exc:
        _reraise_at(exc.errors(), lambda loc: loc[1:] if loc and loc[0] in _TAGS else loc)


#: A gate of any kind, chosen by ``kind`` (``threshold`` when left out).
Gate = Annotated[
    Annotated[ThresholdGate, Tag(GateKind.THRESHOLD)]
    | Annotated[BurnRateGate, Tag(GateKind.BURN_RATE)]
    | Annotated[ErrorBudgetGate, Tag(GateKind.ERROR_BUDGET)]
    | Annotated[ComparisonGate, Tag(GateKind.COMPARISON)],
    Discriminator(_kind_of),
    WrapValidator(_validate_gate),
]
