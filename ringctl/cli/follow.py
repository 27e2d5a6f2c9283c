"""Following a release to its end: ``status --watch`` and ``ringctl wait`` (a CI job attaching to a release).

Both read :func:`ringctl.client.releases.get_status` every few seconds, which finds the
release however many runs it spans, and ride out a short outage (a worker restarting):
only a first read that fails, or an outage longer than :data:`UNAVAILABLE_GRACE`, ends
them with exit code 4.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Hashable
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from ringctl.cli.options import EXIT_NOT_COMPLETED, client_for, connection_options, run

if TYPE_CHECKING:
    from temporalio.client import Client

    from ringctl.client.connection import ConnectionOptions
    from ringctl.workflows.models import ReleaseStatus

#: Seconds between two reads of a release's status.
POLL_SECONDS = 2.0
#: How long the status may stay unavailable, once read, before following gives up (exit 4).
UNAVAILABLE_GRACE = timedelta(seconds=60)


async def follow(client: Client, release: str, interval: float = POLL_SECONDS) -> AsyncIterator[ReleaseStatus]:
    """Yield the status of ``release`` every ``interval`` seconds until it has ended (its final status last).

    A service name is pinned to the release it names at the first read, so a release
    started after that one ended is never followed by mistake.
    """
    import asyncio

    from ringctl.client.releases import get_status
    from ringctl.core.errors import UnavailableError

    loop = asyncio.get_running_loop()
    outage: float | None = None
    current = await get_status(client, release)
    release = current.release_id
    while True:
        yield current
        if current.state.is_final:
            return
        await asyncio.sleep(interval)
        try:
            current = await get_status(client, release)
            outage = None
        except UnavailableError as exc:
            outage = loop.time() if outage is None else outage
            if loop.time() - outage > UNAVAILABLE_GRACE.total_seconds():
                raise
            click.echo(f"{release}: {exc}; retrying", err=True)


async def print_changes(statuses: AsyncIterator[ReleaseStatus]) -> AsyncIterator[ReleaseStatus]:
    """Print a :func:`~ringctl.cli.tree.change_line` for each status that changes what it shows; yield every one."""
    from ringctl.cli.tree import change_key, change_line

    shown: Hashable = None
    async for current in statuses:
        if change_key(current) != shown:
            shown = change_key(current)
            click.echo(change_line(current))
        yield current


async def watch_tree(statuses: AsyncIterator[ReleaseStatus]) -> None:
    """``status --watch``: the release's tree redrawn in place on a terminal, else a line per change."""
    if not sys.stdout.isatty():
        async for _ in print_changes(statuses):
            pass
        return
    from rich.live import Live

    from ringctl.cli.tree import status_tree

    with Live(auto_refresh=False, redirect_stderr=False) as live:
        async for current in statuses:
            live.update(status_tree(current), refresh=True)


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """``--timeout`` callback: a duration such as ``90s``, ``30m``, ``2h``."""
    from ringctl.core.durations import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value, maximum=None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command()
@click.argument("release")
@click.option("--timeout", callback=_duration, help="Stop waiting after DURATION (90s, 30m, 2h): exit 3.")
@click.option("--interval", type=click.FloatRange(0.1), default=POLL_SECONDS, hidden=True)
@connection_options
def wait(release: str, timeout: timedelta | None, interval: float, connection: ConnectionOptions, actor: str) -> None:
    """Wait until RELEASE ends (a CI job attaching to a release started elsewhere); a line per change.

    \b
    Exit codes: 0 it completed; 3 it ended any other way (rolled back, aborted,
    failed), or --timeout passed first; 4 Temporal unreachable or no worker answers;
    1 no such release.
    """

    async def go() -> int:
        import asyncio

        from ringctl.core.durations import format_duration

        client = await client_for(connection, actor)
        last: ReleaseStatus | None = None
        deadline = asyncio.timeout(timeout.total_seconds() if timeout is not None else None)
        try:
            async with deadline:
                async for current in print_changes(follow(client, release, interval)):
                    last = current
        except TimeoutError:
            if not deadline.expired() or timeout is None:
                raise
            where = f"still {last.state}" if last is not None else "no status read"
            name = last.release_id if last is not None else release
            click.echo(f"{name}: {where} after --timeout {format_duration(timeout)}; stopped waiting", err=True)
            return EXIT_NOT_COMPLETED
        assert last is not None  # follow() yields at least once or raises
        if last.state == "completed":
            click.echo(f"{last.release_id}: completed", err=True)
            return 0
        click.echo(f"{last.release_id}: did not complete: {last.state}: {last.reason}", err=True)
        return EXIT_NOT_COMPLETED

    sys.exit(run(go()))
