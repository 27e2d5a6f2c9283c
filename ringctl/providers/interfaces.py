"""The two provider interfaces activities use; production backends are Kubernetes and Prometheus."""

from __future__ import annotations

from typing import Protocol

from ringctl.core.plan import Gate, Region
from ringctl.providers.models import DeployInput, Measurement, RollbackResult, RolloutStatus, Series, Target, UndoRecord


class DeployTarget(Protocol):
    """Changes what runs in a region. Calls are blocking and must be idempotent.

    Raise :class:`ringctl.core.errors.ConfigError` for input that can never work (unknown
    context, missing object) and :class:`ringctl.core.errors.TransientError` for
    failures worth retrying.
    """

    def deploy(self, request: DeployInput) -> UndoRecord:
        """Set the workload's image; deploying the image already there changes nothing."""
        ...

    def rollout_status(self, target: Target) -> RolloutStatus:
        """Observe the rollout once."""
        ...

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        """Restore what ``undo`` recorded; a no-op when the region is already there."""
        ...


class MetricsSource(Protocol):
    """Measures gates. Never judges: :func:`ringctl.activities.gates.judge` decides."""

    async def measure(self, gate: Gate, region: Region, variables: dict[str, str], url: str) -> Measurement:
        """Measure ``gate`` in ``region``; ``variables`` fill the query template.

        A query error or timeout is reported in ``Measurement.error``, not raised.
        """
        ...

    async def series(self, query: str, region: Region, url: str) -> Series:
        """The series an alert query (already rendered) returns for ``region``; errors in ``Series.error``."""
        ...
