"""The release plan (``rings.yaml``): services and their SLOs, staging, ordered rings of regions, gates.

Gates come from two places and are evaluated the same way: a ring's own
``gates:`` list, and the ``slos:`` of the service being released, which
:meth:`Plan.gates_for` compiles into threshold and burn-rate gates for each ring
(with the ring's ``slo_overrides`` applied) and :meth:`Plan.budget_gates_for`
into the error-budget gates checked before the ring is deployed.

Every model forbids unknown fields, so a typo is an error rather than a silent
default. The plan travels into the workflow as data, so editing ``rings.yaml``
never changes a release that is already running.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from activities.notify import Notifications
from ringctl.durations import Duration, format_duration
from ringctl.signing import ApprovalSigning
from ringctl.windows import Freeze, HolidayFreeze, RingSchedule, Window

#: ISO 3166-1 alpha-2 code of Japan; regions tagged with it must be in the final ring.
JAPAN = "JP"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=63)]


class Model(BaseModel):
    """Base of every plan model: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OnFailure(StrEnum):
    """What a ring does when a rollout or a gate fails."""

    ROLLBACK = "rollback"
    HALT = "halt"


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


class Gate(Model):
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
    min_samples: float = Field(default=0, ge=0, description="below this many samples the result is missing data")
    missing_data: MissingData = MissingData.HOLD
    consecutive_healthy: int = Field(default=1, ge=1, description="passing evaluations in a row needed to end the bake")
    slo: str | None = Field(default=None, description="the SLO this gate was compiled from, if any")

    @field_validator("interval")
    @classmethod
    def _interval_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("interval must be greater than 0s")
        return value

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


class BurnRate(Model):
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


class Slo(Model):
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
    min_samples: float = Field(default=0, ge=0, description="fewer requests in the window: missing data")
    missing_data: MissingData = MissingData.HOLD
    interval: Duration = Field(default=timedelta(minutes=1), description="evaluation interval during the bake")
    consecutive_healthy: int = Field(default=1, ge=1, description="healthy evaluations in a row to end the bake")

    @field_validator("interval", "window", "gate_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be greater than 0s")
        return value

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


class SloOverride(Model):
    """Per-ring changes to one SLO; unset fields keep the service's value."""

    threshold: float | None = None
    burn_rate: list[BurnRate] | None = None
    error_budget: bool | None = None
    min_samples: float | None = Field(default=None, ge=0)
    missing_data: MissingData | None = None
    interval: Duration | None = None
    consecutive_healthy: int | None = Field(default=None, ge=1)
    gate_window: Duration | None = None

    @field_validator("interval", "gate_window")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be greater than 0s")
        return value

    def changes(self) -> dict[str, object]:
        """The fields this override sets."""
        return {key: value for key, value in self if value is not None}


class Approval(Model):
    """Whether people must approve promotion into the ring, who may, and how many must."""

    required: bool = False
    approvers: list[str] = Field(
        default_factory=list, description="users or names of the plan's groups allowed to approve; empty: anyone"
    )
    min_approvals: int = Field(default=1, ge=1, description="distinct approvers needed")
    allow_self_approval: bool = Field(
        default=False, description="let the identity that started the release approve it (separation of duties off)"
    )


class Region(Model):
    """One deployment target: a cloud region, reached through a kube context."""

    name: Name
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country code, e.g. US, DE, JP"
    )
    kube_context: str = Field(min_length=1)
    namespace: Name | None = Field(default=None, description="overrides the service's namespace in this region")
    prometheus_url: str | None = Field(default=None, description="overrides the plan's prometheus.url")


class Ring(Model):
    """A set of regions deployed together, then baked and gated before the next ring."""

    name: Name
    regions: list[Region] = Field(min_length=1)
    bake: Duration = timedelta(minutes=30)
    max_parallel: int = Field(default=1, ge=1)
    approval: Approval = Approval()
    on_failure: OnFailure = OnFailure.ROLLBACK
    rollout_timeout: Duration = Field(default=timedelta(minutes=15), description="limit for one region's rollout")
    gates: list[Gate] = Field(default_factory=list)
    slo_overrides: dict[str, SloOverride] = Field(
        default_factory=dict, description="per-SLO changes in this ring, keyed by SLO name"
    )
    windows: list[Window] = Field(default_factory=list, description="when the ring may start; empty: any time")
    freezes: list[Freeze] = Field(default_factory=list, description="periods in which the ring may not start")
    holidays: HolidayFreeze | None = Field(default=None, description="public holidays of a country as freezes")

    @property
    def schedule(self) -> RingSchedule:
        """The ring's windows, freezes and holidays, as :func:`ringctl.windows.check` takes them."""
        return RingSchedule(windows=self.windows, freezes=self.freezes, holidays=self.holidays)

    @field_validator("rollout_timeout")
    @classmethod
    def _timeout_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("rollout_timeout must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _unique_gate_names(self) -> Ring:
        _reject_duplicates([(f"gates[{i}].name", g.name) for i, g in enumerate(self.gates)], "gate")
        return self


class Workload(Model):
    """The Kubernetes object a release updates in every region."""

    namespace: Name = "default"
    deployment: Name
    container: str = Field(min_length=1)


class Service(Model):
    """A service released by ringctl."""

    name: Name
    image: str = Field(min_length=1, description="image repository; a release deploys <image>:<version>")
    workload: Workload
    slos: list[Slo] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_slo_names(self) -> Service:
        _reject_duplicates([(f"slos[{i}].name", slo.name) for i, slo in enumerate(self.slos)], "SLO")
        return self


class Prometheus(Model):
    """Default Prometheus endpoint for gates."""

    url: str = "http://127.0.0.1:9090"
    timeout: Duration = timedelta(seconds=10)


class Plan(Model):
    """The whole release plan: staging, then rings in order, Japan last."""

    services: list[Service] = Field(min_length=1)
    staging: Ring
    rings: list[Ring] = Field(min_length=1)
    prometheus: Prometheus = Prometheus()
    rollback_retention: Duration = Field(
        default=timedelta(days=7), description="how long after it ends a release can still be rolled back"
    )
    groups: dict[str, list[str]] = Field(default_factory=dict, description="approver groups: name -> users")
    approvals: ApprovalSigning = Field(default_factory=ApprovalSigning, description="signed approvals")
    notifications: Notifications = Field(default_factory=Notifications)

    def approvers_for(self, ring: Ring) -> list[str]:
        """The users who may approve ``ring``: its approvers with groups expanded; empty means anyone."""
        users: list[str] = []
        for name in ring.approval.approvers:
            for user in self.groups.get(name, [name]):
                if user not in users:
                    users.append(user)
        return users

    @property
    def stages(self) -> list[Ring]:
        """Staging followed by the rings, in release order."""
        return [self.staging, *self.rings]

    def service(self, name: str) -> Service:
        """The service called ``name``; ``KeyError`` if the plan has none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def stage_path(self, index: int) -> str:
        """The field path of stage ``index`` (0 is staging), as error messages show it."""
        return "staging" if index == 0 else f"rings[{index - 1}]"

    def gates_for(self, service: str, ring: Ring) -> list[Gate]:
        """The bake gates of ``ring`` for ``service``: the ring's own, then those of the service's SLOs."""
        spec = self.service(service)
        return [*ring.gates, *(g for slo in spec.slos for g in slo.gates(ring.slo_overrides.get(slo.name)))]

    def budget_gates_for(self, service: str, ring: Ring) -> list[Gate]:
        """The error-budget gates checked before ``ring`` is deployed for ``service``."""
        spec = self.service(service)
        gates = (slo.budget_gate(ring.slo_overrides.get(slo.name)) for slo in spec.slos)
        return [g for g in gates if g is not None]

    @model_validator(mode="after")
    def _check_names_and_order(self) -> Plan:
        _reject_duplicates([(f"services[{i}].name", s.name) for i, s in enumerate(self.services)], "service")
        _reject_duplicates([(f"{self.stage_path(i)}.name", r.name) for i, r in enumerate(self.stages)], "ring")
        _reject_duplicates(
            [
                (f"{self.stage_path(i)}.regions[{j}].name", region.name)
                for i, ring in enumerate(self.stages)
                for j, region in enumerate(ring.regions)
            ],
            "region",
        )
        slo_names = {slo.name for service in self.services for slo in service.slos}
        for i, ring in enumerate(self.stages):
            for name in ring.slo_overrides:
                if name not in slo_names:
                    known = ", ".join(sorted(slo_names)) or "none"
                    raise ValueError(
                        f"{self.stage_path(i)}.slo_overrides.{name}: no service has an SLO named {name!r} "
                        f"(SLOs: {known})"
                    )
            for service in self.services:
                names = {g.name for g in ring.gates}
                for gate in self.gates_for(service.name, ring):
                    if gate.slo is not None and gate.name in names:
                        raise ValueError(
                            f"{self.stage_path(i)}.gates: gate name {gate.name!r} is also a gate of "
                            f"SLO {gate.slo!r} of service {service.name!r}; rename one"
                        )
        for name, members in self.groups.items():
            if not members:
                raise ValueError(f"groups.{name}: a group needs at least one member")
        for i, ring in enumerate(self.stages):
            approval = ring.approval
            possible = len(self.approvers_for(ring))
            if approval.approvers and approval.min_approvals > possible:
                raise ValueError(
                    f"{self.stage_path(i)}.approval.min_approvals: {approval.min_approvals} approvals needed "
                    f"but only {possible} people may approve"
                )
        if self.approvals.signing == "required":
            for i, ring in enumerate(self.stages):
                missing = [u for u in self.approvers_for(ring) if u not in self.approvals.public_keys]
                if missing:
                    raise ValueError(
                        f"{self.stage_path(i)}.approval.approvers: signing is required but "
                        f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no key in approvals.public_keys"
                    )
        last = len(self.stages) - 1
        for i, ring in enumerate(self.stages):
            for j, region in enumerate(ring.regions):
                if region.country == JAPAN and i != last:
                    raise ValueError(
                        f"{self.stage_path(i)}.regions[{j}].country: Japan must be last: region "
                        f"{region.name!r} (country 'JP') is in ring {ring.name!r}, but only the final ring "
                        f"{self.stages[last].name!r} may contain Japanese regions"
                    )
        return self


def _reject_duplicates(named: list[tuple[str, str]], what: str) -> None:
    first: dict[str, str] = {}
    for path, name in named:
        if name in first:
            raise ValueError(f"{path}: duplicate {what} name {name!r} (already used at {first[name]})")
        first[name] = path


__all__ = [
    "JAPAN",
    "Approval",
    "BurnRate",
    "Comparison",
    "Gate",
    "GateKind",
    "MissingData",
    "OnFailure",
    "Plan",
    "Prometheus",
    "Region",
    "Ring",
    "Service",
    "Slo",
    "SloOverride",
    "Workload",
]
