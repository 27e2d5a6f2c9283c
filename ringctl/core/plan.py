"""The release plan (``rings.yaml``): services and their SLOs, staging, ordered rings of regions, gates.

Gates come from two places and are evaluated the same way: a ring's own
``gates:`` list, and the ``slos:`` of the service being released, which
:meth:`Plan.gates_for` compiles into threshold and burn-rate gates for each ring
(with the ring's ``slo_overrides`` applied) and :meth:`Plan.budget_gates_for`
into the error-budget gates checked before the ring is deployed. The gate models
live in :mod:`ringctl.core.gates`, the SLO models in :mod:`ringctl.core.slo`,
and both are re-exported here.

In a plan file every unknown field is an error, so a typo is not a silent
default, and every duration and number is bounded (:data:`MAX_PARALLEL` and
friends, :data:`~ringctl.core.durations.MAX_DURATION`). The checks that look
across the whole plan are the rules of :mod:`ringctl.core.planrules`, all their
problems reported at once. The plan travels into the workflow as data, so
editing ``rings.yaml`` never changes a release that is already running;
decoding it from a payload is lenient and pure (unknown fields ignored, no
I/O), see :mod:`ringctl.core.planchecks`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from ringctl.core.alarms import Alarms
from ringctl.core.bake import Bake, EvidenceBake
from ringctl.core.durations import Duration, PositiveDuration
from ringctl.core.gates import (
    MAX_CONSECUTIVE_HEALTHY,
    MAX_SAMPLES,
    MIN_INTERVAL,
    BurnRateGate,
    Comparison,
    ComparisonGate,
    ErrorBudgetGate,
    Gate,
    GateKind,
    MissingData,
    ThresholdGate,
)
from ringctl.core.notifications import Notifications
from ringctl.core.planchecks import ConfigModel
from ringctl.core.planrules import JAPAN, Loc, check_plan, duplicate_names, path, raise_problems
from ringctl.core.schedule import Freeze, HolidayFreeze, RingSchedule, Window
from ringctl.core.signing import ApprovalSigning
from ringctl.core.slo import BurnRate, Name, Slo, SloOverride

#: Most regions a ring deploys at once.
MAX_PARALLEL = 1000
#: Most distinct approvers a ring may ask for.
MAX_APPROVALS = 100


class Model(ConfigModel):
    """Base of every plan model: immutable, finite floats; unknown fields refused except in payloads."""


class OnFailure(StrEnum):
    """What a ring does when a rollout or a gate fails."""

    ROLLBACK = "rollback"
    HALT = "halt"


class Approval(Model):
    """Whether people must approve promotion into the ring, who may, and how many must."""

    required: bool = False
    approvers: list[str] = Field(
        default_factory=list, description="users or names of the plan's groups allowed to approve; empty: anyone"
    )
    min_approvals: int = Field(default=1, ge=1, le=MAX_APPROVALS, description="distinct approvers needed")
    allow_self_approval: bool = Field(
        default=False, description="let the identity that started the release approve it (separation of duties off)"
    )


class Region(Model):
    """One deployment target: a cloud region, reached through a kube context.

    ``pair`` and ``failure_domain`` say which regions one failure may take
    together; the rules :func:`~ringctl.core.planrules.pairs_in_different_rings`
    and :func:`~ringctl.core.planrules.failure_domains_in_different_rings` keep
    such regions in different rings. A pair is declared on one side or both
    (Azure has one-way pairs: Brazil South's pair is South Central US, whose own
    pair is North Central US), so the other side need not name it back.
    """

    name: Name
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country code, e.g. US, DE, JP"
    )
    kube_context: str = Field(min_length=1)
    namespace: Name | None = Field(default=None, description="overrides the service's namespace in this region")
    prometheus_url: str | None = Field(default=None, description="overrides the plan's prometheus.url")
    pair: Name | None = Field(
        default=None,
        description="name of another region of the plan paired with this one (e.g. Tokyo and Osaka, Azure's "
        "japaneast and japanwest); the two must be in different rings. One side is enough: the other need not "
        "name it back",
    )
    failure_domain: Name | None = Field(
        default=None,
        description="what one failure may take down together with this region (a physical site, a shared control "
        "plane, ...); regions with the same failure_domain must be in different rings",
    )


class Ring(Model):
    """A set of regions deployed together, then baked and gated before the next ring."""

    name: Name
    regions: list[Region] = Field(min_length=1)
    bake: Bake = Field(
        default=timedelta(minutes=30),
        description="how long to bake: a duration, or {min, until: evidence, max} (ringctl.core.bake)",
    )
    max_parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    approval: Approval = Approval()
    on_failure: OnFailure = OnFailure.ROLLBACK
    rollout_timeout: PositiveDuration = Field(
        default=timedelta(minutes=15), description="limit for one region's rollout"
    )
    gates: list[Gate] = Field(default_factory=list)
    slo_overrides: dict[str, SloOverride] = Field(
        default_factory=dict, description="per-SLO changes in this ring, keyed by SLO name"
    )
    windows: list[Window] = Field(default_factory=list, description="when the ring may start; empty: any time")
    freezes: list[Freeze] = Field(default_factory=list, description="periods in which the ring may not start")
    holidays: HolidayFreeze | None = Field(default=None, description="public holidays of a country as freezes")
    check_alarms: bool = Field(default=True, description="wait while the plan's alarms fire in the ring's regions")

    @property
    def bake_min(self) -> timedelta:
        """The bake's time (its ``min`` when it bakes until evidence)."""
        return self.bake.min if isinstance(self.bake, EvidenceBake) else self.bake

    @property
    def bake_max(self) -> timedelta | None:
        """When the ring halts for a person if its comparison gates still have no verdict (``None``: never)."""
        return self.bake.max if isinstance(self.bake, EvidenceBake) else None

    @property
    def schedule(self) -> RingSchedule:
        """The ring's windows, freezes and holidays, as :func:`ringctl.core.schedulecheck.check` takes them."""
        return RingSchedule(windows=self.windows, freezes=self.freezes, holidays=self.holidays)

    @model_validator(mode="after")
    def _unique_gate_names(self) -> Ring:
        raise_problems(
            duplicate_names([(("gates", i, "name"), g.name) for i, g in enumerate(self.gates)], "gate"), "Ring"
        )
        return self

    @model_validator(mode="after")
    def _evidence_needs_a_comparison(self) -> Ring:
        if isinstance(self.bake, EvidenceBake) and not any(isinstance(g, ComparisonGate) for g in self.gates):
            raise ValueError("bake until: evidence needs a gate of kind comparison in the ring")
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
        raise_problems(
            duplicate_names([(("slos", i, "name"), slo.name) for i, slo in enumerate(self.slos)], "SLO"), "Service"
        )
        return self


class Prometheus(Model):
    """Default Prometheus endpoint for gates."""

    url: str = "http://127.0.0.1:9090"
    timeout: PositiveDuration = timedelta(seconds=10)


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
    alarms: Alarms | None = Field(default=None, description="page alerts that keep a ring from starting; none: off")
    watch: Duration = Field(
        default=timedelta(0),
        description="after the last ring, how long every ring's gates keep running; a breach rolls back (0s: off)",
    )

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

    def for_service(self, name: str) -> Plan:
        """This plan with ``name`` its only service: what a release of ``name`` carries.

        A plan shared by hundreds of services would otherwise travel, whole, in
        every release's input, history and worker memory.
        """
        return self.model_copy(update={"services": [self.service(name)]})

    def stage_loc(self, index: int) -> Loc:
        """The location of stage ``index`` (0 is staging) in the plan: ``("staging",)`` or ``("rings", i)``."""
        return ("staging",) if index == 0 else ("rings", index - 1)

    def stage_path(self, index: int) -> str:
        """The field path of stage ``index`` (0 is staging), as error messages show it."""
        return path(self.stage_loc(index))

    def gates_for(self, service: str, ring: Ring) -> list[Gate]:
        """The bake gates of ``ring`` for ``service``: the ring's own, then those of the service's SLOs."""
        spec = self.service(service)
        return [*ring.gates, *(g for slo in spec.slos for g in slo.gates(ring.slo_overrides.get(slo.name)))]

    def alarm_gates_for(self, service: str, ring: Ring) -> list[Gate]:
        """The burn-rate checks of ``service``'s SLOs over every version, alarms before ``ring`` deploys."""
        if self.alarms is None or not self.alarms.burn_rate:
            return []
        spec = self.service(service)
        return [g for slo in spec.slos for g in slo.alarm_gates(ring.slo_overrides.get(slo.name))]

    def budget_gates_for(self, service: str, ring: Ring) -> list[Gate]:
        """The error-budget gates checked before ``ring`` is deployed for ``service``."""
        spec = self.service(service)
        gates = (slo.budget_gate(ring.slo_overrides.get(slo.name)) for slo in spec.slos)
        return [g for g in gates if g is not None]

    @model_validator(mode="after")
    def _plan_wide_rules(self) -> Plan:
        check_plan(self)
        return self


__all__ = [
    "JAPAN",
    "Alarms",
    "MAX_APPROVALS",
    "MAX_CONSECUTIVE_HEALTHY",
    "MAX_PARALLEL",
    "MAX_SAMPLES",
    "MIN_INTERVAL",
    "Name",
    "Approval",
    "BurnRate",
    "BurnRateGate",
    "Comparison",
    "ComparisonGate",
    "ErrorBudgetGate",
    "EvidenceBake",
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
    "ThresholdGate",
    "Workload",
]
