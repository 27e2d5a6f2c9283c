"""An in-process worker with the sandbox providers, for integration tests on the session's Temporal server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from ringctl.providers.interfaces import DeployTarget
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxMetricsSource, SandboxWorld
from ringctl.worker import build_worker


@asynccontextmanager
async def sandbox_worker(
    client: Client, task_queue: str, world: SandboxWorld, deploy_target: DeployTarget | None = None
) -> AsyncIterator[Worker]:
    """Run a worker with the sandbox providers (or ``deploy_target`` and sandbox metrics) for the block."""
    worker = build_worker(
        client,
        deploy_target or SandboxDeployTarget(world),
        SandboxMetricsSource(world),
        task_queue=task_queue,
        poll_interval=timedelta(milliseconds=100),
    )
    async with worker:
        yield worker
