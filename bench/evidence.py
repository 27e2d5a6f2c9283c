"""Evidence gates side by side: what it costs to fail a regression and pass an unchanged version (issue 14).

Simulated traffic, the same for every gate: 3 regions on the new version
(treated) and 3 not reached yet (control), 50 requests per second per region,
0.1 % errors in control and ``ratio`` x 0.1 % in treated (each request an
independent error draw, seeded), a gate evaluation every minute. Per scenario
(a 14.4x, 6x, 2x and 1.5x regression, and an unchanged version), each gate runs
on each simulated release until it decides; the figures are medians and p90s
over the releases of minutes and requests to the new version until a fail (or
a pass), and the share of releases failed and passed. The gates:

* **ringctl**: :func:`ringctl.core.evidence.look` every minute, one stratum per
  treated region beside a control region, at 95 % confidence, tolerance 1.5
  and 1.25; it stops at fail or pass, and at 6 h (bake by evidence's ``max``)
  halts for a human, neither failing nor passing.
* **threshold** (the baseline a gate of today is): per treated region, the
  error ratio over the last 5 minutes above 2 x the 0.1 % baseline fails;
  passes after a 60-minute bake without a breach.
* **kayenta** (the other baseline): Kayenta's judge, a Mann-Whitney U test at
  98 % confidence (normal approximation with ties; fail when treated is higher,
  one-sided 1 %), re-run every minute on all per-region per-minute error ratios
  so far (3 points per arm per minute); passes after a 60-minute analysis. The
  re-run is the peeking that inflates its false fails.
* **kayenta once**: the same test run once, after 60 minutes (the fixed
  horizon it is made for); its false fails beside kayenta's are peeking's cost.

ringctl's figures are printed beside each baseline's, as ratios. The false-fail
rate comes from ``--unchanged`` releases (1,000 by default). A regression
exactly at ringctl's tolerance (1.5x at tolerance 1.5) is the least favourable
case: by design it neither fails nor passes, save at most alpha of the time each.

    .venv/bin/python bench/evidence.py            # 1,000 releases per scenario: 1-2 minutes on 2 cores
    .venv/bin/python bench/evidence.py --quick    # 20 per regression, 100 unchanged: ~3 s
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ringctl.core.evidence import Stratum, Verdict, look, start

CONFIDENCE = 0.95
TOLERANCES = (1.5, 1.25)
REGRESSIONS = (14.4, 6.0, 2.0, 1.5)
#: Bake by evidence's max, in one-minute looks: ringctl halts for a human there.
MAX_LOOKS = 360
#: The fixed gates' bake, in one-minute looks: they pass at its end.
BAKE_LOOKS = 60
THRESHOLD_FACTOR = 2.0
THRESHOLD_WINDOW = 5
#: Kayenta's 98 % two-sided confidence, failing on the bad side only: z of a one-sided 1 %.
KAYENTA_Z = 2.3263
#: The target's power: a 2x regression failed in at least 1 - BETA of releases.
BETA = 0.2


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Errors among ``n`` requests failing with probability ``p`` each (geometric gaps: fast when ``n*p`` is small)."""
    if p <= 0:
        return 0
    log_q = math.log1p(-min(p, 1 - 1e-12))
    count, position = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position > n:
            return count
        count += 1


@dataclass(frozen=True)
class Traffic:
    """Simulated traffic: ``regions`` treated and as many control regions, ``rps`` each, a look every ``interval`` s."""

    regions: int = 3
    rps: float = 50.0
    interval: float = 60.0
    baseline: float = 0.001

    @property
    def requests(self) -> int:
        """Requests per region per interval."""
        return round(self.rps * self.interval)

    def looks(self, rng: random.Random, ratio: float) -> Iterator[tuple[list[int], list[int]]]:
        """Per interval, errors per treated region and per control region, treated at ``ratio`` x the baseline."""
        n = self.requests
        while True:
            treated = [binomial(rng, n, self.baseline * ratio) for _ in range(self.regions)]
            yield treated, [binomial(rng, n, self.baseline) for _ in range(self.regions)]


class Gate:
    """A gate fed one interval at a time: each treated and control region's errors; it answers a verdict."""

    name: str

    def observe(self, treated: Sequence[int], control: Sequence[int]) -> Verdict:
        """Take one more interval's errors; the verdict so far."""
        raise NotImplementedError


class Sequential(Gate):
    """ringctl's comparison: one stratum per treated region beside a control region, a look every interval."""

    def __init__(self, traffic: Traffic, tolerance: float, confidence: float = CONFIDENCE) -> None:
        self.name = f"ringctl {tolerance:g}"
        self.traffic = traffic
        self.state = start(tolerance, confidence)
        self.errors = [[0, 0] for _ in range(traffic.regions)]
        self.requests = 0

    def observe(self, treated: Sequence[int], control: Sequence[int]) -> Verdict:
        """Add the interval to the cumulative counts and look."""
        self.requests += self.traffic.requests
        for totals, t, c in zip(self.errors, treated, control, strict=True):
            totals[0] += t
            totals[1] += c
        strata = [
            Stratum(
                name=f"pair-{i}",
                treated_requests=self.requests,
                treated_errors=t,
                control_requests=self.requests,
                control_errors=c,
            )
            for i, (t, c) in enumerate(self.errors)
        ]
        evidence = look(self.state, strata)
        self.state = evidence.state
        return evidence.verdict


class FixedBake(Gate):
    """A gate of today: it fails on a breach, and passes after :data:`BAKE_LOOKS` intervals without one."""

    looks = 0

    def observe(self, treated: Sequence[int], control: Sequence[int]) -> Verdict:
        """Fail on a breach; pass at the bake's end."""
        self.looks += 1
        if self.breached(treated, control):
            return Verdict.FAIL
        return Verdict.PASS if self.looks >= BAKE_LOOKS else Verdict.INSUFFICIENT

    def breached(self, treated: Sequence[int], control: Sequence[int]) -> bool:
        """Whether the gate breaches with this interval."""
        raise NotImplementedError


class Threshold(FixedBake):
    """Per treated region, the error ratio over the last ``window`` intervals above ``factor`` x baseline fails."""

    name = "threshold"

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self.recent: list[Sequence[int]] = []

    def breached(self, treated: Sequence[int], control: Sequence[int]) -> bool:
        """Any treated region's errors over the window above the threshold's count."""
        self.recent = [*self.recent[-(THRESHOLD_WINDOW - 1) :], treated]
        limit = THRESHOLD_FACTOR * self.traffic.baseline * self.traffic.requests * len(self.recent)
        return any(sum(errors) > limit for errors in zip(*self.recent, strict=True))


class Kayenta(FixedBake):
    """Mann-Whitney U of per-region per-interval error ratios, treated against control, re-run every interval.

    With ``every_look=False`` it tests once, at the bake's end: the fixed horizon the test is made for.
    """

    def __init__(self, every_look: bool = True) -> None:
        self.name = "kayenta" if every_look else "kayenta once"
        self.every_look = every_look
        self.treated: Counter[int] = Counter()
        self.control: Counter[int] = Counter()

    def breached(self, treated: Sequence[int], control: Sequence[int]) -> bool:
        """Add the interval's points (errors stand for ratios: every region serves as many requests) and test."""
        self.treated.update(treated)
        self.control.update(control)
        if not self.every_look and self.looks < BAKE_LOOKS:
            return False
        return mann_whitney_z(self.treated, self.control) >= KAYENTA_Z


def mann_whitney_z(treated: Counter[int], control: Counter[int]) -> float:
    """z of Mann-Whitney's U for treated above control, from each value's count per arm (normal approximation, ties)."""
    n1, n2 = sum(treated.values()), sum(control.values())
    total = n1 + n2
    if not n1 or not n2:
        return 0.0
    rank_sum, ties, below = 0.0, 0.0, 0
    for value in sorted(treated.keys() | control.keys()):
        tied = treated[value] + control[value]
        rank_sum += treated[value] * (below + (tied + 1) / 2)
        ties += tied**3 - tied
        below += tied
    u = rank_sum - n1 * (n1 + 1) / 2
    variance = n1 * n2 / 12 * ((total + 1) - ties / (total * (total - 1)))
    return 0.0 if variance <= 0 else (u - n1 * n2 / 2) / math.sqrt(variance)


@dataclass
class Outcome:
    """Per gate, the looks each release took to decide, and its verdicts."""

    looks: dict[str, list[float]] = field(default_factory=dict)
    verdicts: dict[str, Counter[Verdict]] = field(default_factory=dict)

    def add(self, gate: str, looks: float, verdict: Verdict) -> None:
        """Record one release's run of one gate."""
        self.looks.setdefault(gate, []).append(looks)
        self.verdicts.setdefault(gate, Counter())[verdict] += 1

    def share(self, gate: str, verdict: Verdict) -> float:
        """The share of releases ending in ``verdict``."""
        return self.verdicts[gate][verdict] / len(self.looks[gate])


def gates_of(traffic: Traffic) -> list[Gate]:
    """Fresh gates for one release: ringctl at each tolerance, then the baselines."""
    return [
        *(Sequential(traffic, tolerance) for tolerance in TOLERANCES),
        Threshold(traffic),
        Kayenta(),
        Kayenta(every_look=False),
    ]


def scenario(traffic: Traffic, ratio: float, releases: int, seed: int, wanted: Verdict) -> Outcome:
    """Run every gate on ``releases`` simulated releases; looks to ``wanted`` (infinite when it did not come)."""
    outcome = Outcome()
    for release in range(releases):
        traffic_of_release = traffic.looks(random.Random(seed * 1_000_003 + release), ratio)
        seen: list[tuple[list[int], list[int]]] = []
        for gate in gates_of(traffic):
            verdict = Verdict.INSUFFICIENT
            for index in range(MAX_LOOKS):
                if index == len(seen):
                    seen.append(next(traffic_of_release))
                verdict = gate.observe(*seen[index])
                if verdict is not Verdict.INSUFFICIENT:
                    break
            outcome.add(gate.name, index + 1 if verdict is wanted else math.inf, verdict)
    return outcome


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def minutes(looks: float, traffic: Traffic) -> str:
    """Looks as minutes, or ``never``."""
    return "never" if math.isinf(looks) else f"{looks * traffic.interval / 60:.0f}"


def report(title: str, outcome: Outcome, traffic: Traffic) -> None:
    """Print one scenario: per gate, median and p90 minutes and median requests to a decision, and the shares."""
    print(f"\n{title}")
    print(f"  {'gate':14} {'minutes median / p90':>21} {'requests (new version)':>23}   fail   pass   ratio (median)")
    medians = {gate: quantile(looks, 0.5) for gate, looks in outcome.looks.items()}
    baselines = [name for name in medians if not name.startswith("ringctl")]
    for gate, looks in outcome.looks.items():
        median = medians[gate]
        requests = "-" if math.isinf(median) else f"{median * traffic.requests * traffic.regions:,.0f}"
        ratios = ""
        if gate.startswith("ringctl"):
            ratios = ", ".join(
                f"{median / medians[b]:.2f}x {b}"
                for b in baselines
                if not (math.isinf(median) or math.isinf(medians[b]))
            )
        print(
            f"  {gate:14} {minutes(median, traffic):>10} / {minutes(quantile(looks, 0.9), traffic):>8} "
            f"{requests:>23}   {outcome.share(gate, Verdict.FAIL):5.1%}  {outcome.share(gate, Verdict.PASS):5.1%}   {ratios}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000, help="simulated releases per regression scenario")
    parser.add_argument("--unchanged", type=int, default=1000, help="simulated unchanged releases (false fails)")
    parser.add_argument("--quick", action="store_true", help="20 releases per regression, 100 unchanged")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    releases, unchanged = (20, 100) if args.quick else (args.releases, args.unchanged)
    traffic = Traffic()
    began = time.monotonic()
    print(f"$ .venv/bin/python bench/evidence.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"traffic: {traffic.regions} treated + {traffic.regions} control regions, {traffic.rps:g} req/s each, "
        f"{traffic.baseline:.1%} baseline errors, a look every {traffic.interval:g} s"
    )
    print(
        f"gates:  ringctl T = the sequential test, tolerance T, {CONFIDENCE:.0%}, halting after {MAX_LOOKS} looks "
        f"(no verdict)\n        threshold = a treated region's {THRESHOLD_WINDOW}-minute error ratio above "
        f"{THRESHOLD_FACTOR:g} x {traffic.baseline:.1%} fails; pass after {BAKE_LOOKS} looks\n        kayenta = "
        f"Mann-Whitney U at 98% on per-region per-minute error ratios, re-run every look; pass after {BAKE_LOOKS}"
        f"\n        kayenta once = the same test once, after {BAKE_LOOKS} looks (its fixed horizon: no peeking)\n"
        "minutes and requests: median (and p90) until the scenario's verdict; never = another verdict, or none"
    )
    outcomes: dict[float, Outcome] = {}
    for number, ratio in enumerate(REGRESSIONS):
        outcomes[ratio] = scenario(traffic, ratio, releases, args.seed + number, Verdict.FAIL)
        report(f"fail a {ratio:g}x regression ({releases} releases): until fail", outcomes[ratio], traffic)
    same = scenario(traffic, 1.0, unchanged, args.seed + len(REGRESSIONS), Verdict.PASS)
    report(f"pass an unchanged version ({unchanged} releases): until pass; fail = false fail", same, traffic)
    print(f"\n({time.monotonic() - began:.0f} s)")
    targets(outcomes, same, unchanged)


def targets(outcomes: dict[float, Outcome], same: Outcome, unchanged: int) -> None:
    """Print the ``target:`` lines: false fails at most alpha, a 2x regression caught, no regression passed."""
    alpha = 1 - CONFIDENCE
    slack = alpha + 3 * math.sqrt(alpha * (1 - alpha) / unchanged)
    ringctl = [gate for gate in same.looks if gate.startswith("ringctl")]
    false_fails = {gate: same.share(gate, Verdict.FAIL) for gate in same.looks}
    print(
        f"target: false fails over {unchanged} unchanged releases at most alpha = {alpha:.0%} (+3 sd of "
        f"simulation: {slack:.1%}): {'met' if all(false_fails[g] <= slack for g in ringctl) else 'NOT MET'} "
        f"({', '.join(f'{g}: {v:.1%}' for g, v in false_fails.items())})"
    )
    caught = {gate: outcomes[2.0].share(gate, Verdict.FAIL) for gate in ringctl}
    print(
        f"target: a 2x regression failed in at least {1 - BETA:.0%} of releases within {MAX_LOOKS} looks: "
        f"{'met' if all(v >= 1 - BETA for v in caught.values()) else 'NOT MET'} "
        f"({', '.join(f'{g}: {v:.1%}' for g, v in caught.items())})"
    )
    passed = {
        (gate, ratio): outcome.share(gate, Verdict.PASS)
        for ratio, outcome in outcomes.items()
        for gate in ringctl
        if ratio >= float(gate.split()[-1])
    }
    worst = max(passed.values())
    print(
        f"target: a regression at or above ringctl's tolerance passed in at most alpha = {alpha:.0%} of releases: "
        f"{'met' if worst <= alpha else 'NOT MET'} (at most {worst:.1%})"
    )


if __name__ == "__main__":
    main()
