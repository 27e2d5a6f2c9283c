"""The release plan (``rings.yaml``): services, staging, ordered rings of regions, gates.

Every model forbids unknown fields, so a typo is an error rather than a silent
default. The plan travels into the workflow as data, so editing ``rings.yaml``
never changes a release that is already running.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ringctl.durations import Duration

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

class Gate(Model):
    """An SLO check evaluated per region during and at the end of a ring's bake.

    ``query`` and ``samples_query`` are PromQL templates; ``{service}``,
    ``{region}``, ``{version}``, ``{previous_version}`` and ``{window}`` are
    substituted before the query is sent.
    """

    name: Name
    query: str = Field(min_length=1, description="SLI as PromQL; one scalar or single-series vector")
    comparison: Comparison = Field(description="healthy when value <comparison> threshold")
    threshold: float
    window: Duration = Field(default=timedelta(minutes=5), description="range for rate()/increase() in the query")
    interval: Duration = Field(default=timedelta(minutes=1), description="evaluation interval during the bake")
    samples_query: str | None = Field(
        default=None, description="PromQL giving the request count over the window; required when min_samples > 0"
    )
    min_samples: float = Field(default=0, ge=0, description="below this many samples the result is missing data")
    missing_data: MissingData = MissingData.HOLD

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
        return self

class Approval(Model):
    """Whether a person must approve promotion into the ring, and who may."""

    required: bool = False
    approvers: list[str] = Field(default_factory=list, description="users allowed to approve; empty: anyone")

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
    "Comparison",
    "Gate",
    "MissingData",
    "OnFailure",
    "Plan",
    "Prometheus",
    "Region",
    "Ring",
    "Service",
    "Workload",
]
