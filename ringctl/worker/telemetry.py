"""What a platform team watches a worker by: Prometheus metrics, a health endpoint, Temporal's own logs.

- ``--metrics-bind``: the Temporal SDK's metrics (workflow and activity task
  latencies, slots, polls...) and ringctl's, on one ``/metrics`` endpoint served
  by the SDK's runtime. ringctl's counters are recorded where the events happen
  (workflow metrics are skipped on replay, so a replayed evaluation is not counted
  twice); the ``ringctl_releases`` gauge is read from Temporal's visibility
  (releases in flight by state) every :data:`STATE_EVERY`.
- ``--health-bind``: ``/livez`` answers while the process serves; ``/readyz``
  answers 200 only while Temporal's frontend answers its health check, 503 otherwise.
- The SDK core's own log lines (Rust) go through the standard library, and so
  through the process's one log format, instead of coloured text on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from ringctl.core.constants import WORKFLOW_TYPE
from ringctl.core.searchattributes import SA_STATE
from ringctl.workflows.models import ReleaseState

#: How often the ``ringctl_releases`` gauge is refreshed from Temporal's visibility.
STATE_EVERY = timedelta(seconds=15)
#: How long ``/readyz`` waits for Temporal's health check.
READY_TIMEOUT = timedelta(seconds=2)


def worker_runtime(metrics_bind: str | None) -> Runtime:
    """A Temporal runtime forwarding core logs to ``temporalio.core``; serving metrics on ``metrics_bind`` if given."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=PrometheusConfig(bind_address=metrics_bind, counters_total_suffix=True) if metrics_bind else None,
        )
    )


async def publish_release_states(client: Client, runtime: Runtime) -> None:
    """Keep ``ringctl_releases{state=...}`` at the number of releases in flight in each state (until cancelled)."""
    gauge = runtime.metric_meter.create_gauge("ringctl_releases", "releases in flight, by state")
    while True:
        for state in (s for s in ReleaseState if not s.is_final):
            query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND {SA_STATE.name} = '{state}'"
            with contextlib.suppress(Exception):  # Temporal unreachable: /readyz says so; keep the last value
                gauge.set((await client.count_workflows(query)).count, {"state": str(state)})
        await asyncio.sleep(STATE_EVERY.total_seconds())


async def serve_health(client: Client, bind: str) -> asyncio.Server:
    """Serve ``/livez`` and ``/readyz`` on ``bind`` (``host:port``)."""
    host, _, port = bind.rpartition(":")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1").split()
            path = request[1] if len(request) > 1 else ""
            if path == "/livez":
                status, body = 200, "ok"
            elif path == "/readyz":
                ready = await _temporal_answers(client)
                status, body = (200, "ok") if ready else (503, "temporal unreachable")
            else:
                status, body = 404, "not found"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n{body}".encode()
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host or "0.0.0.0", int(port))


async def _temporal_answers(client: Client) -> bool:
    """Whether Temporal's frontend answers its gRPC health check within :data:`READY_TIMEOUT`."""
    try:
        return await client.service_client.check_health(timeout=READY_TIMEOUT)
    except Exception:  # noqa: BLE001 - any failure to answer means not ready
        return False
