"""What providers act on and report: a region's target, its undo record, rollout and rollback outcomes, measurements.

Payload models (Temporal stores them in activity inputs and results): frozen, and
unknown fields are ignored, so old and new workers interoperate.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ringctl.core.plan import Region, Service


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
    #: The version ``previous_image`` runs, when the provider knows it (``None`` in records of older workers).
    previous_version: str | None = None

    @classmethod
    def of(
        cls,
        request: DeployInput,
        previous_image: str | None,
        previous_revision: int | None,
        changed: bool,
        *,
        previous_version: str | None = None,
    ) -> UndoRecord:
        """The undo record of deploy ``request``: what to restore, and whether the deploy changed anything."""
        return cls(
            target=request.target,
            release_id=request.release_id,
            previous_image=previous_image,
            previous_revision=previous_revision,
            new_image=request.image,
            changed=changed,
            previous_version=previous_version,
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


class RollbackResult(Message):
    """Outcome of a region rollback; ``changed`` is false when it was already on the previous revision."""

    region: str
    changed: bool
    image: str | None
    message: str = ""


class Measurement(Message):
    """What a metrics source measured for one gate in one region; ``error`` when it could not."""

    query: str
    value: float | None = None
    samples: float | None = None
    error: str | None = None


class Series(Message):
    """What an alert query returned: the label set of each series (each a firing alarm); ``error`` when it failed."""

    query: str
    series: list[dict[str, str]] = []
    error: str | None = None
