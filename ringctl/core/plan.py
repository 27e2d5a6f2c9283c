"""The release plan (``rings.yaml``): services and their SLOs, staging, ordered rings of regions, gates.

Gates come from two places and are evaluated the same way: a ring's own
``gates:`` list, and the ``slos:`` of the service being released, which
:meth:`Plan.gates_for` compiles into threshold and burn-rate gates for each ring
(with the ring's ``slo_overrides`` applied) and :meth:`Plan.budget_gates_for`
into the error-budget gates checked before the ring is deployed. The gate and
SLO models live in :mod:`ringctl.core.slo` and are re-exported here.

In a plan file every unknown field is an error, so a typo is not a silent
default, and every duration and number is bounded (:data:`MAX_PARALLEL` and
friends, :data:`~ringctl.core.durations.MAX_DURATION`). The plan travels into the
workflow as data, so editing ``rings.yaml`` never changes a release that is
already running; decoding it from a payload is lenient and pure (unknown fields
ignored, no I/O), see :mod:`ringctl.core.planchecks`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from ringctl.core.durations import Duration, check_positive
from ringctl.core.notifications import Notifications
from ringctl.core.planchecks import ConfigModel
from ringctl.core.signing import ApprovalSigning
from ringctl.core.slo import (
    MAX_CONSECUTIVE_HEALTHY,
    MAX_SAMPLES,
    MIN_INTERVAL,
    BurnRate,
    Comparison,
    Gate,
    GateKind,
    MissingData,
    Name,
    Slo,
    SloOverride,
)
from ringctl.core.windows import Freeze, HolidayFreeze, RingSchedule, Window

#: ISO 3166-1 alpha-2 code of Japan; regions tagged with it must be in the final ring.
JAPAN = "JP"

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
    max_parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
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
        """The ring's windows, freezes and holidays, as :func:`ringctl.core.windows.check` takes them."""
        return RingSchedule(windows=self.windows, freezes=self.freezes, holidays=self.holidays)

    @field_validator("rollout_timeout")
    @classmethod
    def _timeout_positive(cls, value: timedelta) -> timedelta:
        return check_positive(value, "rollout_timeout")

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

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: timedelta) -> timedelta:
        return check_positive(value, "timeout")


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
    "MAX_APPROVALS",
    "MAX_CONSECUTIVE_HEALTHY",
    "MAX_PARALLEL",
    "MAX_SAMPLES",
    "MIN_INTERVAL",
    "Name",
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
