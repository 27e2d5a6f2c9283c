"""On-call's commands: ``rollback``, ``pause``, ``resume``, ``abort``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ringctl.cli.options import client_for, connection_options, echo_result, nonblank_reason, run

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions
    from ringctl.workflows.models import Command


@click.command()
@click.argument("release", required=False)
@click.option("--service", help="Roll back this service's latest release (instead of RELEASE).")
@click.option("--reason", required=True, callback=nonblank_reason, help="Why (recorded).")
@connection_options
def rollback(release: str | None, service: str | None, reason: str, connection: ConnectionOptions, actor: str) -> None:
    """Roll back every region RELEASE changed, in reverse ring order.

    Works while the release runs (any state) and after it ended, within the
    plan's rollback_retention.
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
    """Resume a paused RELEASE, or retry its halted ring."""
    from ringctl.workflows.models import ResumeRequest
    from ringctl.workflows.ring_release import RingRelease

    _send(release, RingRelease.resume, ResumeRequest(by=actor, reason=reason), connection, actor)


@click.command()
@click.argument("release")
@click.option("--reason", required=True, callback=nonblank_reason, help="Why (recorded).")
@connection_options
def abort(release: str, reason: str, connection: ConnectionOptions, actor: str) -> None:
    """End RELEASE where it is, without rolling back."""
    from ringctl.workflows.models import AbortRequest
    from ringctl.workflows.ring_release import RingRelease

    _send(release, RingRelease.abort, AbortRequest(by=actor, reason=reason), connection, actor)


def _send(release: str, update: Any, command: Command, connection: ConnectionOptions, actor: str) -> None:
    """Send one command (an Update of the release) and print what happened."""
    from ringctl.client.releases import send

    async def go() -> None:
        client = await client_for(connection, actor)
        echo_result(await send(client, release, update, command))

    run(go())
