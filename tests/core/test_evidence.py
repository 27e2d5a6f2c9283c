"""The evidence test: its verdicts, bounds and words, and its error rates checked by simulation.

The simulations run on the benchmark's traffic (``bench/evidence.py``: 3 treated
and 3 control regions, 50 req/s each, 0.1 % errors, a look a minute), seeded.
An error rate measured over ``n`` simulated releases is held to ``alpha`` plus
three binomial standard deviations, ``alpha + 3 * sqrt(alpha * (1 - alpha) / n)``
(7.1 % for alpha = 5 % and n = 1,000): a rate truly at alpha exceeds it with
probability about 0.2 %.
"""

from __future__ import annotations

import ast
import functools
import math
import random
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.evidence import Sequential, Traffic
from ringctl.core import evidence as evidence_module
from ringctl.core.evidence import Evidence, EvidenceState, Stratum, Verdict, look, start

ALPHA = 0.05
TRAFFIC = Traffic()


def slack(n: int, alpha: float = ALPHA) -> float:
    """The most a rate of at most ``alpha`` may measure over ``n`` releases: three standard deviations above."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)


def once(
    treated: tuple[float, float], control: tuple[float, float], tolerance: float = 1.5, **rates: float
) -> Evidence:
    """One look at one stratum's counts (requests, errors) per arm."""
    stratum = Stratum(
        name="eu-west",
        treated_requests=treated[0],
        treated_errors=treated[1],
        control_requests=control[0],
        control_errors=control[1],
        **rates,
    )
    return look(start(tolerance, 1 - ALPHA), [stratum])


@functools.cache
def releases(ratio: float, count: int, max_looks: int, seed: int) -> tuple[Counter[Verdict], tuple[int, ...]]:
    """Simulated releases at ``ratio`` x the baseline, gate tolerance 1.5: verdicts, and looks until each."""
    verdicts: Counter[Verdict] = Counter()
    looks = []
    for release in range(count):
        gate = Sequential(TRAFFIC, 1.5, 1 - ALPHA)
        traffic = TRAFFIC.looks(random.Random(seed * 1_000_003 + release), ratio)
        verdict, n = Verdict.INSUFFICIENT, 0
        while verdict is Verdict.INSUFFICIENT and n < max_looks:
            verdict, n = gate.observe(*next(traffic)), n + 1
        verdicts[verdict] += 1
        looks.append(n)
    return verdicts, tuple(looks)


# --- verdicts, bounds and words ---


def test_no_traffic_and_no_errors_are_insufficient_never_pass() -> None:
    for counts, words in [
        ((0.0, 0.0), "no requests on the new version yet in"),
        ((10_000_000.0, 0.0), "no errors yet over"),
    ]:
        evidence = once(counts, counts)
        assert evidence.verdict is Verdict.INSUFFICIENT
        assert (evidence.estimate, evidence.lower, evidence.upper) == (None, None, None)
        assert evidence.sentence().startswith(words)
        assert evidence.sentence().endswith(
            "not enough evidence about 1.5x either way; traffic on both versions, with errors, is needed to compare"
        )


def test_a_clear_regression_fails_in_words_a_release_manager_reads() -> None:
    evidence = once((120_000, 276), (120_000, 120))
    assert evidence.verdict is Verdict.FAIL
    assert evidence.lower is not None and evidence.upper is not None and evidence.estimate is not None
    assert 1.5 <= evidence.lower < evidence.estimate < evidence.upper
    assert evidence.sentence() == (
        f"errors 2.3x control (95% bounds {evidence.lower:.1f}x-{evidence.upper:.1f}x) over 240,000 requests "
        "(120,000 on the new version) in 1 region: regression of at least 1.5x established"
    )


def test_equal_rates_over_enough_traffic_pass() -> None:
    evidence = once((400_000, 400), (400_000, 400))
    assert evidence.verdict is Verdict.PASS
    assert evidence.upper is not None and evidence.upper <= 1.5 and evidence.estimate == pytest.approx(1.0, rel=0.02)
    assert evidence.sentence().endswith("a regression of 1.5x or more ruled out")


def test_errors_on_one_side_only() -> None:
    none_treated = once((100_000, 0), (100_000, 40))
    assert none_treated.verdict is Verdict.PASS and none_treated.estimate == 0
    none_control = once((100_000, 40), (100_000, 0))
    assert none_control.verdict is Verdict.FAIL and none_control.estimate is None
    assert none_control.sentence().startswith("40 errors on the new version, none in control, over")


def test_more_treated_errors_never_make_the_verdict_milder() -> None:
    order = [Verdict.PASS, Verdict.INSUFFICIENT, Verdict.FAIL]
    seen = [once((50_000, x), (50_000, 50)) for x in range(0, 200, 5)]
    assert [order.index(e.verdict) for e in seen] == sorted(order.index(e.verdict) for e in seen)
    assert {e.verdict for e in seen} == set(order)
    for field in ("estimate", "lower", "upper"):
        values = [getattr(e, field) for e in seen if getattr(e, field) is not None]
        assert values == sorted(values), field


def test_more_confidence_widens_the_bounds() -> None:
    stratum = Stratum(name="a", treated_requests=50_000, treated_errors=80, control_requests=50_000, control_errors=50)
    bounds = [look(start(1.5, c), [stratum]) for c in (0.8, 0.9, 0.95, 0.99)]
    lowers = [b.lower for b in bounds if b.lower is not None]
    uppers = [b.upper for b in bounds if b.upper is not None]
    assert lowers == sorted(lowers, reverse=True) and uppers == sorted(uppers)


def test_looking_often_costs_nothing_when_traffic_is_steady() -> None:
    """With a steady traffic ratio, 60 looks at the cumulative counts end where one look at the total does."""
    state = start(1.5, 0.95)
    for minute in range(1, 61):
        counts = {"treated_requests": 9000 * minute, "control_requests": 18_000 * minute}
        stratum = Stratum(name="a", treated_errors=minute * 14 // 10, control_errors=minute * 2, **counts)
        evidence = look(state, [stratum])
        state = evidence.state
    whole = look(start(1.5, 0.95), [stratum])
    assert state.log_likelihood == pytest.approx(whole.state.log_likelihood)
    assert (evidence.verdict, evidence.lower, evidence.upper) == (whole.verdict, whole.lower, whole.upper)


def test_counts_are_cumulative_and_checked() -> None:
    first = look(
        start(1.5, 0.95),
        [Stratum(name="a", treated_requests=10, treated_errors=1, control_requests=10, control_errors=1)],
    )
    with pytest.raises(ValueError, match="a: a count went down since the last look"):
        look(
            first.state,
            [Stratum(name="a", treated_requests=5, treated_errors=1, control_requests=10, control_errors=1)],
        )
    twice = Stratum(name="b", treated_requests=1, treated_errors=0, control_requests=1, control_errors=0)
    with pytest.raises(ValueError, match="strata named twice"):
        look(first.state, [twice, twice])
    with pytest.raises(ValidationError, match="more errors than requests"):
        Stratum(name="c", treated_requests=1, treated_errors=2, control_requests=1, control_errors=0)
    with pytest.raises(ValidationError):
        start(1.0, 0.95)
    assert look(first.state, []).strata == 1  # a stratum missing from a look keeps its counts


def test_the_result_is_a_payload_an_older_worker_reads() -> None:
    evidence = once((24_105, 55), (24_105, 24), treated_rps=50, control_rps=50)
    assert Evidence.model_validate_json(evidence.model_dump_json()) == evidence
    newer = evidence.state.model_dump(mode="json") | {"a_field_of_a_newer_version": 1}
    assert EvidenceState.model_validate_json(EvidenceState(**newer).model_dump_json()) == evidence.state


def test_the_module_stays_pure_for_the_workflow_sandbox() -> None:
    tree = ast.parse(Path(evidence_module.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "math", "collections.abc", "datetime", "enum", "typing", "pydantic"}
    assert imported <= allowed | {"ringctl.core.durations"}


# --- time to evidence ---


def test_time_to_evidence_is_where_the_expected_counts_reach_a_verdict() -> None:
    evidence = once((20_000, 30), (20_000, 15), treated_rps=100, control_rps=100)
    projection = evidence.projection
    assert evidence.verdict is Verdict.INSUFFICIENT and projection is not None
    assert projection.more_requests == pytest.approx(200 * projection.seconds)
    assert projection.by_stratum == {"eu-west": pytest.approx(projection.more_requests / 2)}, "the new version's half"
    assert evidence.sentence().endswith(f"either way; {projection.words()}")
    assert projection.words().startswith("about ") and projection.words().endswith("m at the current traffic)")

    def after(seconds: float) -> Verdict:
        n = 20_000 + 100 * seconds
        return look(
            evidence.state,
            [
                Stratum(
                    name="eu-west",
                    treated_requests=n,
                    treated_errors=n * 30 / 20_000,
                    control_requests=n,
                    control_errors=n * 15 / 20_000,
                )
            ],
        ).verdict

    assert after(0.9 * projection.seconds) is Verdict.INSUFFICIENT
    assert after(1.02 * projection.seconds) is Verdict.FAIL


def test_time_to_evidence_needs_traffic_and_errors() -> None:
    assert once((20_000, 30), (20_000, 15)).projection is None  # no request rates given
    assert once((20_000, 0), (20_000, 0), treated_rps=100, control_rps=100).projection is None
    at_tolerance = once((20_000, 30), (20_000, 20), treated_rps=100, control_rps=100)  # 1.5x: never decides
    assert at_tolerance.projection is None
    assert at_tolerance.sentence().endswith("no verdict in sight at the current traffic")
    assert once((400_000, 400), (400_000, 400), treated_rps=100, control_rps=100).projection is None  # decided


# --- stratification ---


def test_a_stratum_with_more_traffic_and_errors_does_not_swamp_another() -> None:
    """Simpson's paradox: the new version runs mostly where errors are common anyway; per region it is no worse."""
    noisy = Stratum(name="noisy", treated_requests=1e6, treated_errors=1e4, control_requests=1e5, control_errors=1e3)
    quiet = Stratum(name="quiet", treated_requests=1e5, treated_errors=100, control_requests=1e6, control_errors=1e3)
    stratified = look(start(1.5, 0.95), [noisy, quiet])
    assert stratified.verdict is Verdict.PASS and stratified.estimate == pytest.approx(1.0, rel=0.02)
    pooled = Stratum(
        name="all", treated_requests=1.1e6, treated_errors=10_100, control_requests=1.1e6, control_errors=2e3
    )
    assert look(start(1.5, 0.95), [pooled]).verdict is Verdict.FAIL  # what the same counts say unstratified


def test_each_interval_weighs_its_own_traffic_ratio() -> None:
    """Traffic shifting between arms over the day (Japan at night) does not read as a regression."""
    state = start(1.5, 0.95)
    treated = control = (0.0, 0.0)
    for hour in range(24):
        share = 0.9 if hour < 12 else 0.1  # the treated arm's share of 100,000 requests this hour
        rate = 0.01 if hour < 12 else 0.001  # the hour's error rate, the same in both arms
        treated = (treated[0] + share * 1e5, treated[1] + share * 1e5 * rate)
        control = (control[0] + (1 - share) * 1e5, control[1] + (1 - share) * 1e5 * rate)
        state = look(
            state,
            [
                Stratum(
                    name="jp",
                    treated_requests=treated[0],
                    treated_errors=treated[1],
                    control_requests=control[0],
                    control_errors=control[1],
                )
            ],
        ).state
    assert look(state, []).verdict is Verdict.PASS
    assert once(treated, control).verdict is Verdict.FAIL  # one look at the day's totals would fail it


# --- error rates by simulation ---


def test_unchanged_releases_fail_at_most_alpha_and_pass() -> None:
    verdicts, looks = releases(1.0, 1000, 240, seed=1)
    assert verdicts[Verdict.FAIL] / 1000 <= slack(1000)
    assert verdicts[Verdict.PASS] / 1000 >= 0.99, verdicts  # within 4 h of one-minute looks
    assert sorted(looks)[500] <= 30  # median minutes to pass


def test_at_the_tolerance_each_verdict_is_wrong_at_most_alpha_whenever_one_looks() -> None:
    """A 1.5x regression against tolerance 1.5, looked at every minute for 2 hours: the least favourable truth."""
    verdicts, _ = releases(1.5, 1000, 120, seed=2)
    assert verdicts[Verdict.FAIL] / 1000 <= slack(1000), verdicts
    assert verdicts[Verdict.PASS] / 1000 <= slack(1000), verdicts


def test_a_2x_regression_is_caught_within_an_hour() -> None:
    """Power 1 - beta with beta = 10 %, within 60 one-minute looks (540,000 requests to the new version)."""
    verdicts, _ = releases(2.0, 200, 60, seed=3)
    assert verdicts[Verdict.FAIL] / 200 >= 0.9, verdicts
    assert verdicts[Verdict.PASS] == 0
