"""The ringctl worker: the ``RingRelease`` workflow and its activities, bound to providers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ringctl.activities.alarms import AlarmActivities
from ringctl.activities.gates import GateActivities
from ringctl.activities.notify import NotifyActivities
from ringctl.activities.region import RegionActivities
from ringctl.activities.schedule import check_window
from ringctl.core.constants import TASK_QUEUE
from ringctl.core.searchattributes import SEARCH_ATTRIBUTES
from ringctl.providers.interfaces import DeployTarget, MetricsSource
from ringctl.worker.logcontext import LogContextInterceptor
from ringctl.workflows.ring_release import RingRelease

log = structlog.get_logger(__name__)

#: Activities one worker runs at once, and threads for the blocking (Kubernetes) ones. Each region
#: deployed or rolled back at once holds one (``wait_rollout`` holds it for the whole rollout), so
#: this bounds rollback fan-out: size it to the widest ring times the releases a worker runs at once
#: (fewer threads than regions roll back in waves; BENCHMARKS.md, orchestration part 2).
ACTIVITY_THREADS = 200

#: Activity task polls a worker may keep open at once (the SDK scales between 1 and this by how busy
#: the queue is). A ring's rollback schedules one activity per region in one workflow task, and the
#: SDK's default of 5 polls fetched them a few at a time: 100 regions rolled back in 1.6x the time of
#: one; up to 100 polls fetch them together (1.3-1.4x; BENCHMARKS.md, orchestration part 2).
ACTIVITY_POLLERS = 100

#: How long Temporal keeps a release's workflow tasks on the worker that last ran it before any worker
#: may take them. The SDK default (10 s) is how long a release stalls after its worker dies; a live but
#: busy worker that misses this only costs a replay on the worker that takes the task instead.
STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)

#: How long a stopping worker (SIGTERM: a rolling update) lets its running activities finish before it
#: cancels them; below Kubernetes' default 30 s termination grace period.
GRACEFUL_SHUTDOWN = timedelta(seconds=25)

#: The workflow sandbox, passing through ``cryptography`` (used by approval validators to verify
#: signatures: its native extension must be loaded once per process, never re-imported per sandbox) and
#: ringctl's workflow code itself: the sandbox would otherwise import ``ring_release`` again for every
#: run it holds (0.15 MB of 0.67 MB per release in flight, bench/gate_tick.py). What the sandbox checked
#: at run time for that module (no clocks, randomness or I/O) tests/workflows/test_determinism.py checks
#: in its source, for every workflow module; anything they import lazily still goes through the sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography", "ringctl.workflows")
)


def load_signing_modules() -> None:
    """Import the ``cryptography`` modules approval validators use, before any workflow runs.

    Passed through, they are still imported where first used: imported first inside the sandbox,
    their native extension fails (``SystemError: dictobject.c: bad argument to internal
    function``) and every signed approval is refused; in-process tests had imported them already.
    """
    import cryptography.exceptions
    import cryptography.hazmat.primitives.asymmetric.ed25519
    import cryptography.hazmat.primitives.hashes  # noqa: F401


def build_worker(
    client: Client,
    deploy_target: DeployTarget,
    metrics_source: MetricsSource,
    *,
    task_queue: str = TASK_QUEUE,
    poll_interval: timedelta = timedelta(seconds=2),
    notifier: NotifyActivities | None = None,
    activity_threads: int = ACTIVITY_THREADS,
    activity_pollers: int = ACTIVITY_POLLERS,
) -> Worker:
    """A worker for ``task_queue`` whose activities use the given providers.

    ``notifier`` sends webhook notifications (one HTTP client for the worker);
    the caller owns it and closes it with ``aclose()`` after the worker stops.
    """
    load_signing_modules()
    region = RegionActivities(deploy_target, poll_interval=poll_interval)
    gates = GateActivities(metrics_source)
    notify = notifier or NotifyActivities()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RingRelease],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            region.deploy,
            region.wait_rollout,
            region.rollback,
            gates.evaluate_gates,
            AlarmActivities(metrics_source).check_alarms,
            check_window,
            notify.notify,
        ],
        activity_executor=concurrent.futures.ThreadPoolExecutor(activity_threads),
        max_concurrent_activities=activity_threads,
        activity_task_poller_behavior=PollerBehaviorAutoscaling(minimum=1, maximum=activity_pollers, initial=5),
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        interceptors=[LogContextInterceptor()],
    )


async def run_until_signalled(
    worker: Worker,
    *background: Coroutine[Any, Any, None],
    health: tuple[Client, str] | None = None,
    started: str = "worker started",
) -> None:
    """Run ``worker`` (and ``background`` tasks, the health endpoint) until SIGTERM or SIGINT, then stop gracefully.

    Stopping: no new tasks are polled, activities running get :data:`GRACEFUL_SHUTDOWN` to finish (their
    results are recorded), then the rest are cancelled and retried by another worker (they heartbeat).
    """
    from ringctl.worker.telemetry import serve_health

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await serve_health(*health) if health else None
    tasks = [asyncio.create_task(coroutine) for coroutine in background]
    try:
        async with worker:
            log.info(started)
            await stop.wait()
            log.info("stopping: no new work; activities in flight may finish", grace_seconds=GRACEFUL_SHUTDOWN.seconds)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if server is not None:
            server.close()
    log.info("stopped")


async def register_search_attributes(client: Client) -> list[str]:
    """Register those of ringctl's search attributes the client's namespace lacks; their names (idempotent).

    Raises Temporal's ``RPCError`` when the server refuses (Temporal Cloud registers them through its own API).
    """
    namespace = client.namespace
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )
    return sorted(missing)


async def ensure_search_attributes(client: Client) -> None:
    """:func:`register_search_attributes`, as a worker starts: a refusal is logged and left alone."""
    try:
        if names := await register_search_attributes(client):
            log.info("registered search attributes", names=names)
    except RPCError as exc:
        log.warning("cannot register search attributes; register them yourself (ringctl setup)", error=exc.message)
