"""On-call's commands: ``rollback``, ``pause``, ``resume``, ``abort``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ringctl.cli.options import EXIT_REFUSED, client_for, connection_options, echo_result, nonblank_reason, run

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions
    from ringctl.workflows.models import Command, CommandResult


@click.command()
@click.argument("release", required=False)
@click.option("--service", help="Roll back this service's latest release (instead of RELEASE).")
@click.option("--reason", required=True, callback=nonblank_reason, help="Why (recorded).")
@connection_options
def rollback(release: str | None, service: str | None, reason: str, connection: ConnectionOptions, actor: str) -> None:
    """Roll back every region RELEASE changed to the version it replaced, in reverse ring order.

    This is what `kubectl argo rollouts abort` does (back to stable); `ringctl abort`
    does not roll back. Works while the release runs (any state) and after it ended,
    within the plan's rollback_retention.
    """
    from ringctl.client.releases import rollback_release

    if (release is None) == (service is None):
        raise click.UsageError("name either RELEASE or --service")
    target = release or service or ""

    async def go() -> None:
        client = await client_for(connection, actor)
        echo_result(await rollback_release(client, target, by=actor, reason=reason))

    run(go())


@click.command()
@click.argument("release")
@click.option("--reason", default="", help="Why (recorded).")
@connection_options
def pause(release: str, reason: str, connection: ConnectionOptions, actor: str) -> None:
    """Pause RELEASE: nothing new is deployed or promoted."""
    from ringctl.workflows.models import PauseRequest
    from ringctl.workflows.ring_release import RingRelease

    _send(release, RingRelease.pause, PauseRequest(by=actor, reason=reason), connection, actor)


@click.command()
@click.argument("release")
@click.option("--reason", default="", help="Why (recorded).")
@connection_options
def resume(release: str, reason: str, connection: ConnectionOptions, actor: str) -> None:
    """Resume a paused RELEASE, or retry its halted ring.

    A ring halted at its bake's max without evidence (bake: {until: evidence, max}) is promoted
    without it instead; the answer says which.
    """
    from ringctl.workflows.models import ResumeRequest
    from ringctl.workflows.ring_release import RingRelease

    _send(release, RingRelease.resume, ResumeRequest(by=actor, reason=reason), connection, actor)


@click.command()
@click.argument("release")
@click.option("--reason", required=True, callback=nonblank_reason, help="Why (recorded).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (asked only on a terminal).")
@connection_options
def abort(release: str, reason: str, yes: bool, connection: ConnectionOptions, actor: str) -> None:
    """Stop RELEASE and KEEP the new version where it is deployed (this is not a rollback: to go back to
    the previous version use `ringctl rollback`).

    Nothing more is deployed or promoted: regions the release reached keep the new
    version, the others keep the previous one. (`kubectl argo rollouts abort` goes back
    to stable: here that is `ringctl rollback`.) An aborted release can still be rolled
    back later, within the plan's rollback_retention.
    """
    from ringctl.workflows.models import AbortRequest
    from ringctl.workflows.ring_release import RingRelease

    if not yes and sys.stdin.isatty() and sys.stdout.isatty():  # a person at a terminal, not a script
        question = (
            f"Abort {release}? Regions it deployed KEEP the new version: this is not a rollback "
            "(`ringctl rollback` goes back). Abort"
        )
        if not click.confirm(question, default=False):
            click.echo("not aborted", err=True)
            sys.exit(EXIT_REFUSED)
    result = _send(release, RingRelease.abort, AbortRequest(by=actor, reason=reason), connection, actor)
    version = result.release_id.partition("@")[2] or "the new version"
    click.echo(f"{result.release_id}: regions already deployed keep {version}; this is not a rollback.")
    click.echo(f"to go back to the previous version: ringctl rollback {result.release_id} --reason REASON")


def _send(release: str, update: Any, command: Command, connection: ConnectionOptions, actor: str) -> CommandResult:
    """Send one command (an Update of the release), print what happened and return it."""
    from ringctl.client.releases import send

    async def go() -> CommandResult:
        client = await client_for(connection, actor)
        result = await send(client, release, update, command)
        echo_result(result)
        return result

    return run(go())
