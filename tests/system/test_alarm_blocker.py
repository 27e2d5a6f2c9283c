"""The alarm blocker on the real Prometheus: a ring does not start while a page alert fires in its region.

The session's metrics bed evaluates :data:`~tests.support.metrics_bed.PAGE_RULES`:
Prometheus itself fires ``ErrorBudgetBurnPage`` (labelled as Sloth labels a
page) for a region where most requests fail. A ``ringctl worker`` process reads
that Prometheus (sandbox regions, real metrics); the plan asks for the default
``alarms:`` queries. The release holds before the ring, ``ringctl status`` says
why, and the ring deploys once the alert resolves.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from tests.support.metrics_bed import MetricsBed
from tests.support.polling import wait_until
from tests.support.processes import Worker, ring_of
from tests.support.stack import Stack

SERVICE = "checkout"
REGION = "alarm-canary-1"  # the bed's other tests never send traffic here
FIRING = f'ALERTS{{alertstate="firing", alertname="ErrorBudgetBurnPage", region="{REGION}"}}'


def plan_file(directory: Path) -> Path:
    """Staging and one ring, no gates, 1 s bakes; the default alarm queries, checked every second."""
    stage = {"bake": "1s", "gates": []}
    plan = {
        "services": [
            {
                "name": SERVICE,
                "image": "registry.example.com/checkout",
                "workload": {"namespace": "checkout", "deployment": "checkout", "container": "app"},
            }
        ],
        "staging": {"name": "staging", "regions": [region("alarm-staging-1")], **stage},
        "rings": [{"name": "canary", "regions": [region(REGION)], **stage}],
        "alarms": {"interval": "1s"},
    }
    path = directory / "alarms.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def region(name: str) -> dict[str, str]:
    return {"name": name, "country": "US", "kube_context": name}


def firing(bed: MetricsBed) -> bool:
    """Whether Prometheus has the page alert firing in :data:`REGION` now."""
    answer = httpx.post(f"{bed.url}/api/v1/query", data={"query": FIRING}, timeout=5).json()
    return bool(answer["data"]["result"])


def test_a_ring_waits_while_a_page_alert_fires_in_its_region_and_starts_once_it_clears(
    stack: Stack, metrics_bed: MetricsBed
) -> None:
    metrics_bed.breach(SERVICE, REGION, "1.0.0", error_ratio=0.9)
    wait_until(lambda: firing(metrics_bed), 30, "the page alert to fire")
    providers = ("--deploy-target", "sandbox", "--sandbox-state", str(stack.state_dir))
    providers += ("--metrics-source", "prometheus", "--prometheus-url", metrics_bed.url)
    worker = Worker(stack.server.address, stack.task_queue, stack.state_dir, stack.directory / "worker.log")
    worker.providers = providers
    stack.workers.append(worker.start())

    release = stack.cli.start(SERVICE, "2.0.0", plan=str(plan_file(stack.directory)))
    status = stack.cli.wait_state(release, "holding", timeout=60)
    assert ring_of(status, "staging")["state"] == "promoted"
    assert ring_of(status, "canary")["state"] == "holding"
    assert all(r["state"] == "pending" for r in ring_of(status, "canary")["regions"]), "nothing deployed"
    shown = stack.cli.run("status", release)
    assert shown.returncode == 0, shown.stderr
    assert f"ring canary: alarm firing: ErrorBudgetBurnPage in {REGION}" in shown.stdout
    assert "--override-budget" in shown.stdout

    metrics_bed.healthy(SERVICE, "1.0.0", [REGION])
    status = stack.cli.wait_state(release, "completed", timeout=90)
    assert not firing(metrics_bed)
    assert ring_of(status, "canary")["regions"][0]["state"] == "promoted"
    events = {e["action"]: e for e in status["events"]}
    assert events["alarm_firing"]["detail"] == f"alarm firing: ErrorBudgetBurnPage in {REGION}"
    assert events["alarm_cleared"]["ring"] == "canary"
