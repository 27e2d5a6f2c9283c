"""The plan-wide rules: checks that look across services, rings, groups and keys, one function each.

A field's own constraints live on its model; what needs the whole plan (names
unique across rings, Japan last, enough approvers, the regions of a pair or of
a failure domain in different rings, ...) is a rule here. A rule
returns every :class:`Problem` it finds, each at its real location (a pydantic
``loc`` such as ``("rings", 0, "regions", 1, "country")``), and
:func:`check_plan` raises all problems of all :data:`RULES` together as one
``ValidationError``, so the plan loader lists them at once, one line each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

if TYPE_CHECKING:
    from ringctl.core.plan import Plan

__all__ = ["JAPAN", "PLAN_RULE", "RULES", "Loc", "Problem", "check_plan", "duplicate_names", "path", "raise_problems"]

#: ISO 3166-1 alpha-2 code of Japan; regions tagged with it must be in the final ring(s), see :func:`japan_last`.
JAPAN = "JP"
#: The pydantic error type of a rule's problem (its message names the value, so none is appended).
PLAN_RULE = "plan_rule"

#: Where a problem is: a pydantic ``loc``, e.g. ``("rings", 0, "name")``.
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One problem a rule found: where it is, what is wrong, and the value there."""

    loc: Loc
    message: str
    value: Any = None


def path(loc: Loc) -> str:
    """``loc`` as the field path error messages show: ``rings[0].regions[1].name``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def raise_problems(problems: Sequence[Problem], title: str) -> None:
    """Raise ``problems`` (if any) as one ``ValidationError`` with a line error each.

    Raised inside a validator, each line error keeps its ``loc``, prefixed with
    the validated model's own location.
    """
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(PLAN_RULE, "{message}", {"message": p.message}), loc=p.loc, input=p.value
                )
                for p in problems
            ],
        )


def duplicate_names(named: Sequence[tuple[Loc, str]], what: str) -> list[Problem]:
    """Every name in ``named`` used before, at the place it is used again."""
    first: dict[str, Loc] = {}
    problems: list[Problem] = []
    for loc, name in named:
        if name in first:
            problems.append(Problem(loc, f"duplicate {what} name {name!r} (already used at {path(first[name])})", name))
        else:
            first[name] = loc
    return problems


def unique_service_names(plan: Plan) -> list[Problem]:
    """No two services share a name."""
    return duplicate_names([(("services", i, "name"), s.name) for i, s in enumerate(plan.services)], "service")


def unique_ring_names(plan: Plan) -> list[Problem]:
    """No two rings (staging included) share a name."""
    return duplicate_names([((*plan.stage_loc(i), "name"), r.name) for i, r in enumerate(plan.stages)], "ring")


def unique_region_names(plan: Plan) -> list[Problem]:
    """No region is in two rings, or twice in one."""
    named = [
        ((*plan.stage_loc(i), "regions", j, "name"), region.name)
        for i, ring in enumerate(plan.stages)
        for j, region in enumerate(ring.regions)
    ]
    return duplicate_names(named, "region")


#: The advice of :func:`pairs_in_different_rings` and :func:`failure_domains_in_different_rings`.
_APART = "put them in different rings so one failure cannot take both"


def pairs_name_regions(plan: Plan) -> list[Problem]:
    """Every ``pair`` names another region of the plan (in any ring, staging included)."""
    names = [region.name for ring in plan.stages for region in ring.regions]
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        for j, region in enumerate(ring.regions):
            loc, pair = (*plan.stage_loc(i), "regions", j, "pair"), region.pair
            if pair is None:
                continue
            if pair == region.name:
                problems.append(Problem(loc, f"region {pair!r} cannot be its own pair; name the other region", pair))
            elif pair not in names:
                close = get_close_matches(pair, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(Problem(loc, f"pair {pair!r} is not a region of the plan{hint}", pair))
    return problems


def pairs_in_different_rings(plan: Plan) -> list[Problem]:
    """The two regions of a pair are not in one ring (staging included), whichever side declares the pair."""
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        loc = (*plan.stage_loc(i), "regions")
        for j, first in enumerate(ring.regions):
            for k, second in enumerate(ring.regions[j + 1 :], start=j + 1):
                declared = [
                    path((*loc, at, "pair"))
                    for at, region, other in ((j, first, second), (k, second, first))
                    if region.pair == other.name
                ]
                if declared:
                    problems.append(
                        Problem(
                            loc,
                            f"{first.name} and {second.name} are a pair ({', '.join(declared)}) but both are in "
                            f"ring {ring.name!r}: {_APART}",
                            [first.name, second.name],
                        )
                    )
    return problems


def failure_domains_in_different_rings(plan: Plan) -> list[Problem]:
    """No two regions of one ring (staging included) share a ``failure_domain``.

    Each region is reported with the first region of the ring in its domain.
    """
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        first: dict[str, str] = {}
        for region in ring.regions:
            domain = region.failure_domain
            if domain is None:
                continue
            if domain not in first:
                first[domain] = region.name
                continue
            problems.append(
                Problem(
                    (*plan.stage_loc(i), "regions"),
                    f"{first[domain]} and {region.name} share failure_domain {domain!r} but both are in ring "
                    f"{ring.name!r}: {_APART}",
                    [first[domain], region.name],
                )
            )
    return problems


def overrides_name_slos(plan: Plan) -> list[Problem]:
    """Every ``slo_overrides`` key names an SLO of some service."""
    slo_names = {slo.name for service in plan.services for slo in service.slos}
    known = ", ".join(sorted(slo_names)) or "none"
    return [
        Problem(
            (*plan.stage_loc(i), "slo_overrides", name),
            f"no service has an SLO named {name!r} (SLOs: {known})",
            name,
        )
        for i, ring in enumerate(plan.stages)
        for name in ring.slo_overrides
        if name not in slo_names
    ]


def ring_gates_differ_from_slo_gates(plan: Plan) -> list[Problem]:
    """No gate of a ring has the name of a gate an SLO compiles into for that ring."""
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        index = {gate.name: j for j, gate in enumerate(ring.gates)}
        for service in plan.services:
            for gate in plan.gates_for(service.name, ring):
                if gate.slo is not None and gate.name in index:
                    problems.append(
                        Problem(
                            (*plan.stage_loc(i), "gates", index[gate.name], "name"),
                            f"gate name {gate.name!r} is also a gate of SLO {gate.slo!r} of service "
                            f"{service.name!r}; rename one",
                            gate.name,
                        )
                    )
    return problems


def groups_have_members(plan: Plan) -> list[Problem]:
    """Every approver group has at least one member."""
    return [
        Problem(("groups", name), "a group needs at least one member", members)
        for name, members in plan.groups.items()
        if not members
    ]


def enough_approvers(plan: Plan) -> list[Problem]:
    """A ring naming its approvers names at least ``min_approvals`` people."""
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        approval, possible = ring.approval, len(plan.approvers_for(ring))
        if approval.approvers and approval.min_approvals > possible:
            problems.append(
                Problem(
                    (*plan.stage_loc(i), "approval", "min_approvals"),
                    f"{approval.min_approvals} approvals needed but only {possible} people may approve",
                    approval.min_approvals,
                )
            )
    return problems


def approvers_have_keys(plan: Plan) -> list[Problem]:
    """With ``approvals.signing: required``, every approver has a public key."""
    if plan.approvals.signing != "required":
        return []
    problems: list[Problem] = []
    for i, ring in enumerate(plan.stages):
        missing = [u for u in plan.approvers_for(ring) if u not in plan.approvals.public_keys]
        if missing:
            problems.append(
                Problem(
                    (*plan.stage_loc(i), "approval", "approvers"),
                    f"signing is required but {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} "
                    "no key in approvals.public_keys",
                    ring.approval.approvers,
                )
            )
    return problems


def japan_last(plan: Plan) -> list[Problem]:
    """Only the final rings contain Japanese regions: the final ring, or the Japanese-only rings that end the plan.

    Several Japanese-only rings at the end let a pair such as Tokyo and Osaka be
    released one ring after the other (see :func:`pairs_in_different_rings`)
    while every other region still comes first. Staging and the first ring (the
    canary) are never among several final rings: Japan is never the canary.
    """

    def japanese_only(index: int) -> bool:
        return all(region.country == JAPAN for region in plan.stages[index].regions)

    first = len(plan.stages) - 1
    if japanese_only(first):  # a mixed final ring stays the only one: nothing else may follow Japan
        while first > 2 and japanese_only(first - 1):
            first -= 1
    allowed = [ring.name for ring in plan.stages[first:]]
    final = f"final ring {allowed[0]!r}" if len(allowed) == 1 else f"final rings {', '.join(map(repr, allowed))}"
    return [
        Problem(
            (*plan.stage_loc(i), "regions", j, "country"),
            f"Japan must be last: region {region.name!r} (country 'JP') is in ring {ring.name!r}, but only the "
            f"{final} may contain Japanese regions",
            region.country,
        )
        for i, ring in enumerate(plan.stages[:first])
        for j, region in enumerate(ring.regions)
        if region.country == JAPAN
    ]


#: Every plan-wide rule, in the order their problems are listed.
RULES: tuple[Callable[[Plan], list[Problem]], ...] = (
    unique_service_names,
    unique_ring_names,
    unique_region_names,
    pairs_name_regions,
    overrides_name_slos,
    ring_gates_differ_from_slo_gates,
    groups_have_members,
    enough_approvers,
    approvers_have_keys,
    japan_last,
    pairs_in_different_rings,
    failure_domains_in_different_rings,
)


def check_plan(plan: Plan) -> None:
    """Apply every rule of :data:`RULES`; raise all their problems together (see :func:`raise_problems`)."""
    raise_problems([problem for rule in RULES for problem in rule(plan)], "Plan")
