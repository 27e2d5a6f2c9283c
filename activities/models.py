"""Typed inputs and outputs of the activities, shared with the workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ringctl.plan import Gate, Region, Service


class Message(BaseModel):
    """Base of activity messages: unknown fields are ignored so old and new workers interoperate."""

    model_config = ConfigDict(frozen=True)


class Target(Message):
    """Where a service runs in one region: the workload coordinates a provider acts on."""

    region: str
    kube_context: str
    namespace: str
    deployment: str
    container: str

    @classmethod
    def of(cls, service: Service, region: Region) -> Target:
        """The target of ``service`` in ``region`` (the region's namespace overrides the service's)."""
        return cls(
            region=region.name,
            kube_context=region.kube_context,
            namespace=region.namespace or service.workload.namespace,
            deployment=service.workload.deployment,
            container=service.workload.container,
        )


class UndoRecord(Message):
    """What ``deploy`` changed in a region, and how to put it back."""

    target: Target
    release_id: str
    previous_image: str | None
    previous_revision: int | None
    new_image: str
    changed: bool

    @classmethod
    def of(
        cls, request: DeployInput, previous_image: str | None, previous_revision: int | None, changed: bool
    ) -> UndoRecord:
        """The undo record of deploy ``request``: what to restore, and whether the deploy changed anything."""
        return cls(
            target=request.target,
            release_id=request.release_id,
            previous_image=previous_image,
            previous_revision=previous_revision,
            new_image=request.image,
            changed=changed,
        )


class DeployInput(Message):
    """Deploy ``image`` (of ``version``) to one region."""

    target: Target
    release_id: str
    service: str
    version: str
    image: str


class RolloutState(StrEnum):
    """Progress of a region's rollout, as ``kubectl rollout status`` would report it."""

    PROGRESSING = "progressing"
    COMPLETE = "complete"
    FAILED = "failed"


class RolloutStatus(Message):
    """One observation of a rollout."""

    state: RolloutState
    message: str = ""


class WaitRolloutInput(Message):
    """Wait until the region's rollout completes, fails, or ``timeout`` passes."""

    target: Target
    release_id: str
    timeout: timedelta


class RollbackInput(Message):
    """Undo one region's deploy."""

    undo: UndoRecord


class RollbackResult(Message):
    """Outcome of a region rollback; ``changed`` is false when it was already on the previous revision."""

    region: str
    changed: bool
    image: str | None
    message: str = ""


class GateDecision(StrEnum):
    """A gate's verdict for one region."""

    PASS = "pass"
    FAIL = "fail"
    HOLD = "hold"


class Measurement(Message):
    """What a metrics source measured for one gate in one region; ``error`` when it could not."""

    query: str
    value: float | None = None
    samples: float | None = None
    error: str | None = None


class GateResult(Message):
    """One evaluated gate in one region: the measurement and the decision taken from it.

    ``value`` is what was compared with ``threshold``: the SLI for a threshold
    gate, the smaller burn rate for a burn-rate gate, the budget left for an
    error-budget gate; ``measured`` holds the raw query results behind it.
    """

    gate: str
    region: str
    query: str
    value: float | None
    threshold: float
    comparison: str
    samples: float | None
    decision: GateDecision
    reason: str
    evaluated_at: datetime
    slo: str | None = None
    kind: str = "threshold"
    measured: list[float | None] = []


class EvaluateGatesInput(Message):
    """Evaluate ``gates`` for ``service`` at ``version`` in every region of a ring."""

    release_id: str
    service: str
    version: str
    previous_version: str | None
    ring: str
    regions: list[Region]
    gates: list[Gate]
    prometheus_url: str
    #: Previous version per region (from the deploy's undo record), for ``{previous_version}``.
    previous_versions: dict[str, str] = {}
    #: Seconds one query may take; a slower one is missing data. ``None``: the source's own timeout.
    timeout: float | None = None


class GateEvaluation(Message):
    """All results of one evaluation round, and the combined decision (fail beats hold beats pass)."""

    results: list[GateResult]
    decision: GateDecision
