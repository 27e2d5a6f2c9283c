"""The worker as a platform team runs it: Prometheus scrapes its metrics, probes read its health, SIGTERM stops it
gracefully. Every component is its own process: the Temporal server, `ringctl worker`, Prometheus, the CLI.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from ringctl.client.releases import workflow_id_for
from ringctl.providers.sandbox import Scenario, write_scenario
from tests.support.polling import wait_until
from tests.support.prometheus_server import PrometheusServer, free_port
from tests.support.stack import Stack

SPEED = "10000"


def _prometheus_value(prometheus: PrometheusServer, query: str) -> float | None:
    data = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return float(data[0]["value"][1]) if data else None


def test_prometheus_scrapes_the_workers_and_ringctls_metrics_and_probes_answer(stack: Stack) -> None:
    metrics, health = free_port(), free_port()
    stack.worker("--metrics-bind", f"127.0.0.1:{metrics}", "--health-bind", f"127.0.0.1:{health}")
    assert httpx.get(f"http://127.0.0.1:{health}/livez", timeout=5).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{health}/readyz", timeout=5).text == "ok"
    assert httpx.get(f"http://127.0.0.1:{health}/nope", timeout=5).status_code == 404
    release = stack.cli.start("checkout", "2.3.0", "--speed", SPEED)
    stack.cli.wait_state(release, "awaiting_approval", timeout=90)

    prometheus = PrometheusServer([f"127.0.0.1:{metrics}"]).start()
    try:
        passed = wait_until(
            lambda: _prometheus_value(prometheus, 'sum(ringctl_gate_evaluations_total{decision="pass"})'),
            30,
            "gate evaluations in Prometheus",
        )
        assert passed >= 4  # at least one per ring before Japan
        assert (
            wait_until(
                lambda: _prometheus_value(prometheus, 'ringctl_releases{state="awaiting_approval"}'), 30, "the gauge"
            )
            >= 1
        )
        assert _prometheus_value(prometheus, 'count({__name__=~"temporal_.+"})')  # the SDK's own series
    finally:
        prometheus.stop()
    lines = _one_json_format(stack.workers[0].log())
    deployed = next(line for line in lines if line.get("event") == "deployed")
    assert deployed["release_id"] == "checkout@2.3.0" and deployed["service"] == "checkout"
    assert deployed["activity"] == "deploy" and deployed["attempt"] == 1 and deployed["region"]


def _one_json_format(log: str) -> list[dict[str, Any]]:
    """Every line the worker wrote to its (non-terminal) stderr is a JSON object: ringctl's, the SDK's Python
    side and its core's forwarded lines alike; no colour codes. The lines, parsed."""
    assert "\x1b" not in log
    lines = [json.loads(line) for line in log.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


async def _completed_by(address: str, activity: str) -> set[str]:
    """Identities of the workers that completed ``activity`` attempts of the checkout release."""
    history = await (await Client.connect(address)).get_workflow_handle(workflow_id_for("checkout")).fetch_history()
    started = {
        e.event_id: e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return {
        started[e.activity_task_completed_event_attributes.started_event_id]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    }


def test_sigterm_lets_the_running_deploy_finish_and_another_worker_carries_on(stack: Stack) -> None:
    """A rolling update of the worker: the deploy in flight completes on the stopping worker, nothing is retried."""
    write_scenario(stack.state_dir, Scenario(delays={"deploy": 3}))
    first = stack.worker()
    release = stack.cli.start("checkout", "2.4.0", "--speed", SPEED)
    stack.cli.wait_state(release, "deploying", timeout=30)
    assert first.process is not None
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(15) == 0, first.log()
    assert "stopping: no new work" in first.log() and '"stopped"' in first.log()
    identity = f":{first.process.pid}@{socket.gethostname()}"
    assert any(i.endswith(identity) for i in asyncio.run(_completed_by(stack.server.address, "deploy")))
    stack.worker()
    status = stack.cli.wait_state(release, "awaiting_approval", timeout=120)
    deploys = [e for e in status["events"] if e["action"] == "deploy" and e["region"] == "staging-us-east-1"]
    assert len(deploys) == 1, deploys


def test_setup_registers_the_search_attributes_once_and_says_so(stack: Stack) -> None:
    """A namespace without ringctl's search attributes: `ringctl setup` adds them; again, it says they are there."""
    from ringctl.core.binaries import find_binary
    from tests.support.cli_runs import ringctl

    namespace = f"setup-{stack.task_queue[-8:]}"
    created = subprocess.run(
        [find_binary("temporal"), "operator", "namespace", "create", "--namespace", namespace]
        + ["--address", stack.server.address],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    env = {"TEMPORAL_ADDRESS": stack.server.address, "TEMPORAL_NAMESPACE": namespace}
    runs = []  # a new namespace can take a few seconds to reach the frontend's cache

    def setup_once() -> bool:
        runs.append(ringctl("setup", env=env))
        return runs[-1].returncode == 0 or "not found" not in runs[-1].stderr

    wait_until(setup_once, 30, "the new namespace", every=1)
    first = runs[-1]
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("registered Ringctl"), first.stdout
    again = ringctl("setup", env=env)
    assert (again.returncode, again.stdout.strip()) == (0, "search attributes already registered")
    missing = ringctl("setup", env={**env, "TEMPORAL_NAMESPACE": "no-such-namespace"})
    assert missing.returncode == 1 and missing.stderr.startswith("error: cannot register search attributes"), missing
    assert len(missing.stderr.strip().splitlines()) == 1
