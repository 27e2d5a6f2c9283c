"""``ringctl serve``: a read-only web view of releases (:mod:`ringctl.cli.webview`), until SIGINT or SIGTERM."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ringctl.cli.options import connection_options

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions

#: Where the view listens unless ``--bind`` says otherwise: this machine only.
DEFAULT_BIND = "127.0.0.1:8080"


def parse_bind(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, int]:
    """``--bind`` callback: ``HOST:PORT`` (``[::1]:PORT`` for an IPv6 address) as (host, port)."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"must be HOST:PORT, e.g. {DEFAULT_BIND}", ctx=ctx, param=param)
    return host, int(port)


@click.command()
@click.option(
    "--bind",
    default=DEFAULT_BIND,
    show_default=True,
    callback=parse_bind,
    help="HOST:PORT to listen on. The view has no authentication: keep it on loopback.",
)
@connection_options
def serve(bind: tuple[str, int], connection: ConnectionOptions, actor: str) -> None:
    """Serve a read-only web view: every release, and each release's rings as a pipeline; pages refresh themselves."""
    import signal

    from ringctl.cli.webview import TemporalSource, ViewServer, is_loopback

    host, port = bind
    if not is_loopback(host):
        click.echo(
            f"warning: serving on {host}, not loopback: anyone who can reach it sees every release (no authentication)",
            err=True,
        )
    source = TemporalSource(connection, actor)
    try:
        server = ViewServer((host, port), source)
    except OSError as exc:
        source.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving a read-only view of releases on http://{shown}:{server.server_address[1]}/", err=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
        source.close()
