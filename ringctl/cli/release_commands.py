"""Release commands: ``release start`` (the pipeline) and ``approve`` (release managers)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ringctl.cli.options import (
    EXIT_NOT_COMPLETED,
    SPEED,
    client_for,
    connection_options,
    echo_result,
    metadata_value,
    run,
)
from ringctl.core.constants import DEFAULT_PLAN, HISTORY_EVENTS, MIN_HISTORY_EVENTS, TASK_QUEUE

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions


@click.group()
def release() -> None:
    """Start releases."""


@release.command("start")
@click.option("--service", required=True, help="Service to release (as named in the plan).")
@click.option("--version", "version", required=True, help="Version to release.")
@click.option("--image", help="Image to deploy (default: <service image>:<version>).")
@click.option("--plan", "plan_file", default=DEFAULT_PLAN, show_default=True, help="Plan file.")
@click.option("--task-queue", envvar="RINGCTL_TASK_QUEUE", default=TASK_QUEUE, show_default=True, hidden=True)
@click.option("--wait", is_flag=True, help="Wait for the end; exit 0 only if the release completed.")
@click.option(
    "--speed",
    type=SPEED,
    default=1.0,
    show_default=True,
    help="Run the plan's bakes, evaluation intervals and rollout timeouts N times faster (demos, tests; recorded).",
)
@click.option(
    "--history-limit",
    type=click.IntRange(MIN_HISTORY_EVENTS, HISTORY_EVENTS),
    default=None,
    help=f"Continue the release's workflow as a new run past N history events (default {HISTORY_EVENTS}; "
    "for a Temporal server with lower limits, or to see the boundary in a short release).",
)
@click.option("--commit", callback=metadata_value, help="The commit released (recorded, shown by status and history).")
@click.option("--build-url", callback=metadata_value, help="The pipeline run that built it (recorded).")
@click.option("--change", callback=metadata_value, help="The change ticket that approves it (recorded).")
@connection_options
def release_start(
    service: str,
    version: str,
    image: str | None,
    plan_file: str,
    task_queue: str,
    wait: bool,
    speed: float,
    history_limit: int | None,
    commit: str | None,
    build_url: str | None,
    change: str | None,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """Start a release; prints its id."""
    from temporalio.client import WorkflowFailureError

    from ringctl.client.lookup import ended_status, release_id_for
    from ringctl.client.releases import start_release
    from ringctl.core.errors import root_cause
    from ringctl.core.planfile import load_plan
    from ringctl.core.versions import check_version

    try:
        check_version(version)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    plan = load_plan(plan_file)

    async def go() -> str | None:
        client = await client_for(connection, actor)
        handle = await start_release(
            client,
            plan,
            service=service,
            version=version,
            image=image,
            started_by=actor,
            task_queue=task_queue,
            speed=speed,
            history_limit=history_limit,
            metadata={
                key: value
                for key, value in (("commit", commit), ("build_url", build_url), ("change", change))
                if value is not None
            },
        )
        release_id = release_id_for(service, version)
        click.echo(release_id)
        if not wait:
            return None
        try:
            status = await ended_status(handle, rpc_timeout=None)
        except WorkflowFailureError as exc:
            click.echo(f"{release_id}: its workflow ended without a status: {root_cause(exc)}", err=True)
            return "failed"
        click.echo(f"{release_id}: {status.state}: {status.reason}", err=True)
        return status.state

    state = run(go())
    if state is not None and state != "completed":
        sys.exit(EXIT_NOT_COMPLETED)


@click.command()
@click.argument("release")
@click.option("--ring", required=True, help="Ring to approve.")
@click.option("--comment", default="", help="Why (recorded).")
@click.option(
    "--override-budget", is_flag=True, help="Deploy the ring although its error budget is exhausted or an alarm fires."
)
@click.option("--override-window", is_flag=True, help="Deploy the ring outside its window or during a freeze.")
@click.option("--reason", default="", help="Why the override is needed (required with an override; recorded).")
@click.option(
    "--key",
    "key_file",
    envvar="RINGCTL_APPROVAL_KEY",
    type=click.Path(exists=True, dir_okay=False),
    help="Your Ed25519 private key: sign the approval (plans with approvals.signing: required) [RINGCTL_APPROVAL_KEY].",
)
@connection_options
def approve(
    release: str,
    ring: str,
    comment: str,
    override_budget: bool,
    override_window: bool,
    reason: str,
    key_file: str | None,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """Approve promotion of RELEASE into a ring, or override the ring's error budget or window."""
    from datetime import UTC, datetime

    from ringctl.client.releases import get_status, send_ring_command
    from ringctl.core.signing import ApprovalClaim, load_private_key, sign_claim
    from ringctl.workflows.models import ApproveRequest, OverrideKind, OverrideRequest

    if (override_budget or override_window) and not reason.strip():
        flag = "--override-budget" if override_budget else "--override-window"
        raise click.BadParameter(f"must say why, with {flag}", param_hint="--reason")
    if override_budget and override_window:
        raise click.UsageError("override the error budget and the window in two separate commands")
    kind = OverrideKind.BUDGET if override_budget else OverrideKind.WINDOW if override_window else None
    private_key = load_private_key(key_file) if key_file else None  # a bad key is refused before Temporal is asked

    async def go() -> None:
        client = await client_for(connection, actor)
        request: ApproveRequest | OverrideRequest = (
            ApproveRequest(by=actor, ring=ring, comment=comment)
            if kind is None
            else OverrideRequest(by=actor, ring=ring, kind=kind, reason=reason)
        )
        if private_key is not None:
            current = await get_status(client, release)
            claim = ApprovalClaim(
                release_id=current.release_id,
                ring=ring,
                version=current.version,
                approver=actor,
                signed_at=datetime.now(UTC),
                action=request.claim_action,
            )
            request = request.model_copy(
                update={
                    "release_id": current.release_id,
                    "signed_at": claim.signed_at,
                    "signature": sign_claim(private_key, claim),
                }
            )
        echo_result(await send_ring_command(client, release, request))

    run(go())
