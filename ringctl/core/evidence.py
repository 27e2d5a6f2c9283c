"""Evidence: an anytime-valid sequential comparison of error rates, new version (treated) against control.

The question a comparison gate asks at every look is whether the ratio ``rho``
of the treated error rate to the control error rate is at least the plan's
``tolerance``. The counts come per stratum (one per region: the new version's
pods beside the previous version's, or a treated region beside the regions the
release has not reached yet), cumulative since the test started.

**Construction.** Model each arm's errors as Poisson in its requests: in a
stratum and interval with ``n`` treated and ``m`` control requests, treated
errors ~ Poisson(``rho * lam * n``), control errors ~ Poisson(``lam * m``). Given
the interval's total errors ``N``, the treated count is Binomial(``N``,
``rho*s / (rho*s + 1)``) with ``s = n / m``: the stratum's own baseline ``lam``
cancels (the classic conditional test for two Poisson rates, Lehmann & Romano,
*Testing Statistical Hypotheses*, ch. 4), which is what keeps a region with far
more traffic, or a higher baseline, from swamping another (Simpson's paradox).
A stratum pairing a treated region with other regions assumes their baselines
match; one region's new and old pods need no such assumption.
The intervals are the increments between looks, so traffic that changes over
the day changes ``s`` per interval and the model stays exact. The product of
these binomial likelihoods over strata and intervals, ``L(rho)``, is kept on a
grid of ratios ``tolerance * 2**(k/8)`` spanning 1/32..32 (:class:`EvidenceState`).

For a ratio ``r`` on the grid, the average of ``L(rho_j) / L(r)`` over the grid
ratios above ``r`` (uniform on the log scale) is a nonnegative supermartingale
whenever every stratum's true ratio is at most ``r`` (each binomial factor has
expectation at most 1): by Ville's inequality it ever reaches ``1/alpha`` with
probability at most ``alpha``, however often and whenever one looks (Robbins'
method of mixtures; Howard et al., "Time-uniform, nonparametric, nonasymptotic
confidence sequences", Ann. Statist. 2021; Johari et al., "Always valid
inference", Oper. Res. 2022; for Poisson counts in deployments, Lindon et al.,
"Rapid Regression Detection in Software Deployments through Sequential
Testing", KDD 2022, and Lindon & Malek, "Anytime-valid inference for
multinomial count data", NeurIPS 2022). Mirrored, the average over the ratios
below ``r`` tests "the ratio is at least ``r``".

**Bounds and verdicts** (``alpha = 1 - confidence``, each bound one-sided at
``confidence``; together they cover with ``1 - 2 alpha``):

* ``lower``: the largest grid ratio up to which every ratio is rejected by the
  test against larger ratios; the ratio is above it. **fail** when
  ``lower >= tolerance``: a regression of at least the tolerance is established
  (false fail at most ``alpha`` when every stratum's ratio is at most the tolerance).
* ``upper``: the smallest grid ratio from which every ratio is rejected by the
  test against smaller ratios; the ratio is below it. **pass** when
  ``upper <= tolerance``: such a regression is ruled out (false pass at most
  ``alpha`` when every stratum's ratio is at least the tolerance).
* **insufficient** otherwise. Without errors there is no evidence about a
  ratio: no traffic, or traffic without errors, never passes.

The estimate is the conditional maximum-likelihood ratio (the grid's best
point, refined by a parabola through its neighbours). Requests are Bernoulli,
not Poisson; at error rates of a few percent or less the difference is
negligible (the conditional law is then Fisher's noncentral hypergeometric in
the odds ratio, the rate ratio times ``(1 - p_control) / (1 - p_treated)``).

**Time to evidence** (:class:`Projection`): if each stratum's observed error
rates and current requests per second hold, the log-likelihood grows by its
expectation per second; the projection is the first time that expected path
reaches a verdict (doubling, then bisection), at most 30 days ahead.

Pure and deterministic (stdlib ``math``, pydantic models), so a workflow may
call :func:`look` at every gate interval and carry :attr:`Evidence.state`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ringctl.core.durations import format_duration

__all__ = [
    "GRID_MAX",
    "GRID_MIN",
    "MAX_PROJECTION",
    "STEPS_PER_DOUBLING",
    "Evidence",
    "EvidenceState",
    "Finding",
    "Projection",
    "Stratum",
    "Verdict",
    "look",
    "start",
    "two_figures",
]

#: Grid ratios are ``tolerance * 2**(k / STEPS_PER_DOUBLING)``: 9 % apart.
STEPS_PER_DOUBLING = 8
#: The grid spans at least GRID_MIN..GRID_MAX.
GRID_MIN = 1 / 32
GRID_MAX = 32.0
#: The longest time to evidence projected.
MAX_PROJECTION = timedelta(days=30)

Counts = tuple[float, float, float, float]
"""Cumulative treated requests, treated errors, control requests, control errors."""


class _Payload(BaseModel):
    """Immutable; unknown fields of a newer payload are ignored."""

    model_config = ConfigDict(frozen=True)


class Verdict(StrEnum):
    """What the evidence says about a regression of at least the tolerance."""

    FAIL = "fail"
    PASS = "pass"
    INSUFFICIENT = "insufficient"


class Stratum(_Payload):
    """One stratum (a region) at a look: cumulative counts since the test started, and the current traffic."""

    name: str
    treated_requests: float = Field(ge=0)
    treated_errors: float = Field(ge=0)
    control_requests: float = Field(ge=0)
    control_errors: float = Field(ge=0)
    treated_rps: float = Field(default=0.0, ge=0, description="treated requests per second now (time to evidence)")
    control_rps: float = Field(default=0.0, ge=0, description="control requests per second now (time to evidence)")

    @model_validator(mode="after")
    def _errors_are_requests(self) -> Self:
        if self.treated_errors > self.treated_requests or self.control_errors > self.control_requests:
            raise ValueError(f"{self.name}: more errors than requests")
        return self

    @property
    def counts(self) -> Counts:
        """The four cumulative counts."""
        return (self.treated_requests, self.treated_errors, self.control_requests, self.control_errors)


class EvidenceState(_Payload):
    """What one look carries to the next: the test, the last counts per stratum, ``log L`` per grid ratio."""

    tolerance: float = Field(gt=1, le=GRID_MAX / 2)
    confidence: float = Field(gt=0.5, lt=1)
    counts: dict[str, Counts] = {}
    log_likelihood: tuple[float, ...] = ()
    seconds: float = Field(default=0.0, ge=0, description="seconds since the test started, at the last look")

    @property
    def grid(self) -> list[float]:
        """The grid of ratios: ``tolerance * 2**(k/8)`` from at most GRID_MIN to at least GRID_MAX."""
        high = math.ceil(STEPS_PER_DOUBLING * math.log2(GRID_MAX / self.tolerance))
        return [self.tolerance * 2 ** (k / STEPS_PER_DOUBLING) for k in range(-self.tolerance_index, high + 1)]

    @property
    def tolerance_index(self) -> int:
        """Where the tolerance is on the grid (how many steps down to GRID_MIN or below)."""
        return -math.floor(STEPS_PER_DOUBLING * math.log2(GRID_MIN / self.tolerance))


class Projection(_Payload):
    """Time to evidence: how much more traffic a verdict needs if the observed rates hold."""

    seconds: float
    more_requests: float = Field(description="both versions' requests, every stratum")
    by_stratum: dict[str, float] = Field(description="the new version's requests, per stratum")

    def words(self) -> str:
        """``about 31,000 more requests (11m at the current traffic)``: two significant figures, whole minutes."""
        seconds = math.ceil(self.seconds)
        wait = timedelta(minutes=math.ceil(seconds / 60)) if seconds >= 60 else timedelta(seconds=seconds)
        return f"about {two_figures(self.more_requests)} more requests ({format_duration(wait)} at the current traffic)"


def two_figures(count: float) -> str:
    """``31,000``: a count to two significant figures (whole numbers below 100 as they are)."""
    return f"{round(count, min(0, 2 - len(str(round(count))))):,.0f}"


class Finding(_Payload):
    """One look's decision, with the statistic, its bounds, the counts and the confidence behind it."""

    verdict: Verdict
    estimate: float | None = Field(description="treated / control error rate (None: no errors, or none in control)")
    lower: float | None = Field(description="the ratio is above this at `confidence` (None: no bound yet)")
    upper: float | None = Field(description="the ratio is below this at `confidence` (None: no bound yet)")
    tolerance: float
    confidence: float
    treated_requests: float
    treated_errors: float
    control_requests: float
    control_errors: float
    strata: int
    projection: Projection | None = Field(description="time to evidence; None once decided or when unknown")

    def sentence(self) -> str:
        """The decision in one sentence a release manager reads."""
        requests = self.treated_requests + self.control_requests
        regions = f"{self.strata} region{'s' if self.strata != 1 else ''}"
        if self.treated_requests == 0:
            over = f"({self.control_requests:,.0f} on the previous version) " if requests else ""
        else:
            over = f"over {requests:,.0f} requests ({self.treated_requests:,.0f} on the new version) "
        return f"{self._statistic()} {over}in {regions}: {self._conclusion()}"

    def _statistic(self) -> str:
        if self.treated_requests == 0:
            return "no requests on the new version yet"
        if self.control_requests == 0:
            return "no control traffic (no requests on the previous version)"
        if self.treated_errors + self.control_errors == 0:
            return "no errors yet"
        if self.estimate is None:
            return f"{self.treated_errors:,.0f} errors on the new version, none in control,"
        if self.lower is not None and self.upper is not None:
            bounds = f"{_ratio(self.lower)}-{_ratio(self.upper)}"
        elif self.lower is not None:
            bounds = f"above {_ratio(self.lower)}"
        elif self.upper is not None:
            bounds = f"below {_ratio(self.upper)}"
        else:
            bounds = "none yet"
        return f"errors {_ratio(self.estimate)} control ({self.confidence * 100:g}% bounds {bounds})"

    def _conclusion(self) -> str:
        tolerance = _ratio(self.tolerance)
        if self.verdict is Verdict.FAIL:
            return f"regression of at least {tolerance} established"
        if self.verdict is Verdict.PASS:
            return f"a regression of {tolerance} or more ruled out"
        if self.projection:
            more = self.projection.words()
        elif self.treated_errors + self.control_errors == 0 or 0 in (self.treated_requests, self.control_requests):
            more = "traffic on both versions, with errors, is needed to compare"
        else:
            more = "no verdict in sight at the current traffic"
        return f"not enough evidence about {tolerance} either way; {more}"


class Evidence(Finding):
    """A look's :class:`Finding` and the state the next look carries on from."""

    state: EvidenceState

    def finding(self) -> Finding:
        """The decision without the state: what a gate result keeps and shows."""
        return Finding.model_validate(self.model_dump(exclude={"state"}))


def _ratio(value: float) -> str:
    """``2.3x``, ``14x``, ``0.031x``."""
    if value >= 10:
        return f"{value:.0f}x"
    return f"{value:.1f}x" if value >= 0.1 else f"{value:.2g}x"


def start(tolerance: float, confidence: float) -> EvidenceState:
    """A test of "the error-rate ratio is at least ``tolerance``" at ``confidence``, before any look."""
    return EvidenceState(tolerance=tolerance, confidence=confidence)


def look(state: EvidenceState, strata: Sequence[Stratum], seconds: float | None = None) -> Evidence:
    """Add the counts since the last look and decide; carry :attr:`Evidence.state` to the next look.

    ``seconds`` (since the test started) is kept for the next look's rates. A
    stratum missing from a look keeps its last counts. Raises ``ValueError``
    when a count is smaller than at the last look (counts are cumulative) or a
    stratum is named twice.
    """
    names = [stratum.name for stratum in strata]
    if len(set(names)) != len(names):
        raise ValueError(f"strata named twice: {sorted({n for n in names if names.count(n) > 1})}")
    grid = state.grid
    log_likelihood = list(state.log_likelihood) or [0.0] * len(grid)
    if len(log_likelihood) != len(grid):
        raise ValueError(f"state has {len(log_likelihood)} grid ratios, the tolerance gives {len(grid)}")
    counts = dict(state.counts)
    for stratum in strata:
        before = counts.get(stratum.name, (0.0, 0.0, 0.0, 0.0))
        step = [now - then for now, then in zip(stratum.counts, before, strict=True)]
        if min(step) < 0:
            raise ValueError(f"{stratum.name}: a count went down since the last look (counts are cumulative)")
        _add(log_likelihood, grid, *step)
        counts[stratum.name] = stratum.counts
    level = -math.log(1 - state.confidence)
    at_tolerance = state.tolerance_index
    lower, upper = _bounds(log_likelihood, level)
    if lower is not None and lower >= at_tolerance:
        verdict = Verdict.FAIL
    elif upper is not None and upper <= at_tolerance:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INSUFFICIENT
    totals = [sum(c[i] for c in counts.values()) for i in range(4)]
    projection = None
    if verdict is Verdict.INSUFFICIENT:
        projection = _projection(log_likelihood, grid, strata, lambda ll: _decided(ll, level, at_tolerance))
    return Evidence(
        verdict=verdict,
        estimate=_estimate(log_likelihood, grid, totals[1], totals[3]),
        lower=None if lower is None else grid[lower],
        upper=None if upper is None else grid[upper],
        tolerance=state.tolerance,
        confidence=state.confidence,
        treated_requests=totals[0],
        treated_errors=totals[1],
        control_requests=totals[2],
        control_errors=totals[3],
        strata=len(counts),
        projection=projection,
        state=state.model_copy(
            update={
                "counts": counts,
                "log_likelihood": tuple(log_likelihood),
                "seconds": state.seconds if seconds is None else seconds,
            }
        ),
    )


def _add(log_likelihood: list[float], grid: Sequence[float], n: float, x: float, m: float, y: float) -> None:
    """Add one stratum-interval's conditional binomial ``log L`` (``n``, ``m`` requests; ``x``, ``y`` errors).

    With no requests in an arm, or no errors, the interval says nothing about the ratio.
    """
    if n <= 0 or m <= 0 or x + y <= 0:
        return
    s = n / m
    for j, ratio in enumerate(grid):
        log_likelihood[j] += x * math.log(ratio * s) - (x + y) * math.log1p(ratio * s)


def _rejected_by_larger(log_likelihood: Sequence[float], level: float) -> list[bool]:
    """Per grid ratio, whether the mixture over the larger ratios has reached ``1/alpha`` (``log`` = ``level``)."""
    top = max(log_likelihood)
    rejected = [False] * len(log_likelihood)
    tail = 0.0
    for i in range(len(log_likelihood) - 1, -1, -1):
        larger = len(log_likelihood) - 1 - i
        if tail > 0:
            rejected[i] = math.log(tail) - math.log(larger) - (log_likelihood[i] - top) >= level
        tail += math.exp(log_likelihood[i] - top)
    return rejected


def _bounds(log_likelihood: Sequence[float], level: float) -> tuple[int | None, int | None]:
    """Grid indexes of the lower and upper bounds: the run of rejected ratios from each end."""
    from_below = _run(_rejected_by_larger(log_likelihood, level))
    from_above = _run(_rejected_by_larger(log_likelihood[::-1], level))
    size = len(log_likelihood)
    return (from_below - 1 if from_below else None), (size - from_above if from_above else None)


def _run(flags: Sequence[bool]) -> int:
    """How many leading flags are true."""
    return next((i for i, flag in enumerate(flags) if not flag), len(flags))


def _decided(log_likelihood: Sequence[float], level: float, at_tolerance: int) -> bool:
    """Whether this ``log L`` reaches a verdict (fail or pass)."""
    lower, upper = _bounds(log_likelihood, level)
    return (lower is not None and lower >= at_tolerance) or (upper is not None and upper <= at_tolerance)


def _estimate(log_likelihood: Sequence[float], grid: Sequence[float], treated: float, control: float) -> float | None:
    """The conditional maximum-likelihood ratio: 0 without treated errors, None without control errors."""
    if max(log_likelihood) == min(log_likelihood) or control == 0:
        return None
    if treated == 0:
        return 0.0
    best = max(range(len(grid)), key=log_likelihood.__getitem__)
    if best in (0, len(grid) - 1):
        return grid[best]
    before, at, after = log_likelihood[best - 1 : best + 2]
    curvature = before - 2 * at + after
    offset = 0.0 if curvature == 0 else max(-0.5, min(0.5, (before - after) / (2 * curvature)))
    return grid[best] * 2 ** (offset / STEPS_PER_DOUBLING)


def _projection(
    log_likelihood: Sequence[float],
    grid: Sequence[float],
    strata: Sequence[Stratum],
    decided: Callable[[Sequence[float]], bool],
) -> Projection | None:
    """How long until the expected ``log L`` reaches a verdict if observed rates and current traffic hold."""
    drift = [0.0] * len(grid)
    rates: dict[str, tuple[float, float]] = {}
    for stratum in strata:
        if min(stratum.treated_rps, stratum.control_rps, stratum.treated_requests, stratum.control_requests) <= 0:
            continue
        treated_errors = stratum.treated_rps * stratum.treated_errors / stratum.treated_requests
        control_errors = stratum.control_rps * stratum.control_errors / stratum.control_requests
        _add(drift, grid, stratum.treated_rps, treated_errors, stratum.control_rps, control_errors)
        rates[stratum.name] = (stratum.treated_rps, stratum.control_rps)

    def decided_after(seconds: float) -> bool:
        return decided([value + seconds * slope for value, slope in zip(log_likelihood, drift, strict=True)])

    limit = MAX_PROJECTION.total_seconds()
    if not any(drift) or not decided_after(limit):
        return None
    low, high = 0.0, 1.0
    while high < limit and not decided_after(high):
        low, high = high, 2 * high
    high = min(high, limit)
    while high - low > max(1.0, 0.01 * high):
        middle = (low + high) / 2
        low, high = (low, middle) if decided_after(middle) else (middle, high)
    return Projection(
        seconds=high,
        more_requests=high * sum(treated + control for treated, control in rates.values()),
        by_stratum={name: high * treated for name, (treated, _) in rates.items()},
    )
