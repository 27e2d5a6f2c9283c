"""Reading releases: ``status`` (``--watch``), ``history`` (the audit log), ``list``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ringctl.cli.options import OUTPUT, client_for, connection_options, run

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions


@click.command()
@click.argument("release", required=False)
@OUTPUT
@click.option(
    "--watch",
    is_flag=True,
    help="Follow the release until it ends: a live tree of rings, regions and gates on a terminal, "
    "a line per change otherwise (with --output json: a JSON line per refresh).",
)
@click.option(
    "--interval", type=click.FloatRange(0.1), default=2.0, show_default=True, help="Seconds between refreshes."
)
@connection_options
def status(
    release: str | None, output: str, watch: bool, interval: float, connection: ConnectionOptions, actor: str
) -> None:
    """Show a release (RELEASE is service@version or a service); without RELEASE, list releases."""
    from ringctl.cli.follow import follow, watch_tree
    from ringctl.cli.render import render_status
    from ringctl.client.releases import get_status

    if release is None:
        if watch:
            raise click.UsageError("--watch needs a RELEASE")
        _print_list(connection, actor, None, None, output)
        return

    async def go() -> None:
        client = await client_for(connection, actor)
        if not watch:
            current = await get_status(client, release)
            click.echo(current.model_dump_json(indent=2) if output == "json" else render_status(current))
        elif output == "json":
            async for current in follow(client, release, interval):
                click.echo(current.model_dump_json())
        else:
            await watch_tree(follow(client, release, interval))

    run(go())


@click.command()
@click.argument("release")
@OUTPUT
@connection_options
def history(release: str, output: str, connection: ConnectionOptions, actor: str) -> None:
    """Show the audit log of RELEASE: every action, who did it, when and why."""
    from ringctl.cli.render import render_events
    from ringctl.client.releases import get_status

    async def go() -> None:
        client = await client_for(connection, actor)
        current = await get_status(client, release)
        if output == "json":
            click.echo(json.dumps([e.model_dump(mode="json") for e in current.events], indent=2))
        else:
            click.echo(render_events(current.events))

    run(go())


@click.command("list")
@click.option("--service", help="Only this service's releases.")
@click.option("--state", help="Only releases in this state (e.g. awaiting_approval, completed).")
@OUTPUT
@connection_options
def list_command(
    service: str | None, state: str | None, output: str, connection: ConnectionOptions, actor: str
) -> None:
    """List releases, newest first, from Temporal visibility."""
    _print_list(connection, actor, service, state, output)


def _print_list(connection: ConnectionOptions, actor: str, service: str | None, state: str | None, output: str) -> None:
    from ringctl.client.releases import list_releases

    async def go() -> None:
        client = await client_for(connection, actor)
        rows = await list_releases(client, service=service, state=state)
        if output == "json":
            click.echo(json.dumps(rows, indent=2))
            return
        click.echo(f"{'RELEASE':<32} {'STATE':<20} {'RING':<12} {'STARTED':<26} CLOSED")
        for row in rows:
            click.echo(
                f"{row['release_id']:<32} {row['state'] or '-':<20} {row['ring'] or '-':<12} "
                f"{row['started_at']:<26} {row['closed_at'] or '-'}"
            )

    run(go())
