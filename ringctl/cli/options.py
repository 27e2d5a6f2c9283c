"""What the ``ringctl`` commands share: exit codes, connection flags, output options, running a coroutine."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ringctl.core.identity import ACTOR_ENV, current_actor
from ringctl.core.log import configure_logging
from ringctl.core.timescale import MAX_SPEED

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import Runtime

    from ringctl.client.connection import ConnectionOptions
    from ringctl.workflows.models import CommandResult

#: A refused command or an invalid plan.
EXIT_REFUSED = 1
#: A release waited on with ``--wait`` ended without completing.
EXIT_NOT_COMPLETED = 3
#: Temporal or a worker did not take the command in time: nothing was applied, safe to retry.
EXIT_UNAVAILABLE = 4
#: ``--speed``: how many times faster than written a plan's waits run (:mod:`ringctl.core.timescale`).
SPEED = click.FloatRange(1.0, MAX_SPEED)
#: ``--output``: a table for people, JSON for scripts.
OUTPUT = click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine to its end."""
    import asyncio

    return asyncio.run(coro)


def structured_logging(default_level: str | None = None) -> None:
    """Configure structlog as ``ringctl --log-json/--log-level`` say (``default_level`` when no level is given).

    For the commands that run ringctl's worker or providers in this process (they
    log through structlog); the others leave it unimported.
    """
    root = click.get_current_context().find_root()
    level = root.params["log_level"]
    if default_level and root.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        level = default_level
    configure_logging(json=root.params["log_json"], level=level)


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Temporal connection flags and ``--as``; unset flags fall back to TEMPORAL_* environment variables."""

    @click.option("--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port [TEMPORAL_ADDRESS].")
    @click.option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace [TEMPORAL_NAMESPACE].")
    @click.option("--api-key", envvar="TEMPORAL_API_KEY", help="API key [TEMPORAL_API_KEY].")
    @click.option("--tls/--no-tls", default=None, help="Use TLS (on by default with an API key).")
    @click.option("--as", "actor", envvar=ACTOR_ENV, help=f"Who is acting, recorded in the audit log [{ACTOR_ENV}].")
    @wraps(func)
    def wrapper(
        address: str | None, namespace: str | None, api_key: str | None, tls: bool | None, actor: str | None, **kw: Any
    ) -> Any:
        from ringctl.client.connection import ConnectionOptions

        if actor is not None and not actor.strip():
            raise click.BadParameter("must not be empty", param_hint="--as")
        kw["connection"] = ConnectionOptions(address=address, namespace=namespace, api_key=api_key, tls=tls)
        kw["actor"] = current_actor(actor)
        return func(**kw)

    return wrapper


#: The longest release metadata value (``--commit``, ``--build-url``, ``--change``).
METADATA_LIMIT = 200


def metadata_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Release metadata callback: one printable line of at most :data:`METADATA_LIMIT` characters."""
    if value is None:
        return None
    if not value.strip() or len(value) > METADATA_LIMIT or not value.isprintable():
        raise click.BadParameter(
            f"must be one printable line of 1 to {METADATA_LIMIT} characters", ctx=ctx, param=param
        )
    return value.strip()


def nonblank_reason(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--reason`` callback: a given reason must say something (it is recorded in the audit log)."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


async def client_for(connection: ConnectionOptions, actor: str, *, runtime: Runtime | None = None) -> Client:
    """A Temporal client that identifies itself as ``ringctl:<actor>``; a worker's (on its ``runtime``) as
    :func:`worker_identity`."""
    from ringctl.client.connection import connect

    identity = worker_identity(actor) if runtime is not None else f"ringctl:{actor}"
    return await connect(connection, identity=identity, runtime=runtime)


def worker_identity(actor: str) -> str:
    """``ringctl:<actor>:<pid>@<host>``: which worker (pod, in Kubernetes) ran each task, in Temporal's history.

    Every worker started by one actor would otherwise carry the same identity.
    """
    import os
    import socket

    return f"ringctl:{actor}:{os.getpid()}@{socket.gethostname()}"


def echo_result(result: CommandResult) -> None:
    """One line for an applied command: the release, what happened, its state now."""
    click.echo(f"{result.release_id}: {result.message} (state: {result.state})")
