"""Reading releases: ``status`` (``--watch``), ``history`` (the audit log), ``list``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

import click

from ringctl.cli.options import OUTPUT, client_for, connection_options, run
from ringctl.core.errors import RingctlError

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
@click.argument("release", required=False)
@OUTPUT
@click.option(
    "--verify",
    "verify_file",
    type=click.File("r"),
    help="Check an export made with --output json (a file, or - for stdin): exit 0 if its hash chain holds.",
)
@connection_options
def history(
    release: str | None, output: str, verify_file: TextIO | None, connection: ConnectionOptions, actor: str
) -> None:
    """Show the audit log of RELEASE (any release, also ended or superseded): every action, who did it, when, why.

    --output json exports it as a hash chain: each entry carries the hash of the one before
    (``prev``) and its own (``hash``); keep the export's ``head`` to prove later that nothing
    was changed, removed or cut off (ringctl history --verify FILE).
    """
    if verify_file is not None:
        if release is not None:
            raise click.UsageError("--verify checks a file; give no RELEASE with it")
        _verify(verify_file)
        return
    if release is None:
        raise click.UsageError("name a RELEASE (service@version), or --verify FILE")
    from ringctl.cli.render import render_events
    from ringctl.client.releases import get_status

    async def go() -> None:
        client = await client_for(connection, actor)
        current = await get_status(client, release)
        if output == "json":
            from datetime import UTC, datetime

            from ringctl.core.auditchain import chain

            events = [event.model_dump(mode="json") for event in current.events]
            click.echo(json.dumps(chain(current.release_id, events, datetime.now(UTC), actor), indent=2))
        else:
            click.echo(render_events(current.events))

    run(go())


def _verify(source: TextIO) -> None:
    from ringctl.core.auditchain import verify

    name = source.name if source.name != "<stdin>" else "-"
    try:
        click.echo(f"{name}: {verify(json.load(source))}")
    except json.JSONDecodeError as exc:
        raise RingctlError(f"{name}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:
        raise RingctlError(f"{name}: {exc}") from None


def _check_state(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ringctl.client.listing import LISTED_STATES

    if value is not None and value not in LISTED_STATES:
        raise click.BadParameter(f"{value!r} is not a state; one of: {', '.join(LISTED_STATES)}")
    return value


@click.command("list")
@click.option("--service", help="Only this service's releases.")
@click.option("--state", callback=_check_state, help="Only releases in this state (e.g. awaiting_approval, completed).")
@click.option("--waiting", is_flag=True, help="Only releases waiting for an approval, a window or a budget override.")
@click.option("--for", "waiting_for", metavar="USER|GROUP", help="With --waiting: those this user or group may act on.")
@OUTPUT
@connection_options
def list_command(
    service: str | None,
    state: str | None,
    waiting: bool,
    waiting_for: str | None,
    output: str,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """List releases, newest first, one row each, from Temporal visibility (times in UTC).

    With --waiting: running releases a person can move on, who may (approvers yet to act,
    groups, or anyone) and why they wait, across services; the longest waiting first.
    """
    if waiting_for and not waiting:
        raise click.UsageError("--for needs --waiting")
    if waiting and (service or state):
        raise click.UsageError("--waiting lists every waiting release; it takes no --service or --state")
    _print_list(connection, actor, service, state, output, waiting=waiting, waiting_for=waiting_for)


def _print_list(
    connection: ConnectionOptions,
    actor: str,
    service: str | None,
    state: str | None,
    output: str,
    *,
    waiting: bool = False,
    waiting_for: str | None = None,
) -> None:
    from ringctl.cli.render import render_releases, render_waiting
    from ringctl.client.listing import list_releases, waiting_releases

    async def go() -> None:
        client = await client_for(connection, actor)
        if waiting:
            rows = await waiting_releases(client, waiting_for)
        else:
            rows = await list_releases(client, service=service, state=state)
        if output == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            click.echo(render_waiting(rows) if waiting else render_releases(rows))

    run(go())
