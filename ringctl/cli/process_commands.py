"""Long-running processes: ``worker`` (the platform team's) and ``demo`` (a whole local setup)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ringctl.cli.options import SPEED, client_for, connection_options, run, structured_logging
from ringctl.core.constants import TASK_QUEUE

if TYPE_CHECKING:
    from ringctl.client.connection import ConnectionOptions


@click.command()
@click.option("--deploy-target", type=click.Choice(["kubernetes", "sandbox"]), default="kubernetes", show_default=True)
@click.option("--metrics-source", type=click.Choice(["prometheus", "sandbox"]), default="prometheus", show_default=True)
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig with one context per region [KUBECONFIG].")
@click.option(
    "--task-queue", envvar="RINGCTL_TASK_QUEUE", default=TASK_QUEUE, show_default=True, help="[RINGCTL_TASK_QUEUE]"
)
@click.option(
    "--activity-threads",
    type=click.IntRange(min=1),
    default=None,
    help="Activities run at once (regions deployed or rolled back in parallel, across releases). [default: 200]",
)
@click.option(
    "--sandbox-state",
    envvar="RINGCTL_SANDBOX_STATE",
    type=click.Path(file_okay=False),
    help="Directory of the sandbox providers' simulated regions (sandbox.db) and scenario.json, created if "
    "missing [RINGCTL_SANDBOX_STATE; default: ${XDG_STATE_HOME:-~/.local/state}/ringctl/sandbox].",
)
@click.option(
    "--prometheus-url",
    envvar="RINGCTL_PROMETHEUS_URL",
    help="Query this Prometheus (or Thanos) for every region, whatever URLs the plan names [RINGCTL_PROMETHEUS_URL].",
)
@click.option(
    "--metrics-bind",
    envvar="RINGCTL_METRICS_BIND",
    metavar="HOST:PORT",
    help="Serve Temporal's and ringctl's Prometheus metrics at http://HOST:PORT/metrics [RINGCTL_METRICS_BIND].",
)
@click.option(
    "--health-bind",
    envvar="RINGCTL_HEALTH_BIND",
    metavar="HOST:PORT",
    help="Serve /livez and /readyz (Temporal reachable) at HOST:PORT [RINGCTL_HEALTH_BIND].",
)
@connection_options
def worker(
    deploy_target: str,
    metrics_source: str,
    kubeconfig: str | None,
    task_queue: str,
    activity_threads: int | None,
    sandbox_state: str | None,
    prometheus_url: str | None,
    metrics_bind: str | None,
    health_bind: str | None,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """Run a worker that executes releases.

    SIGTERM or SIGINT stops it gracefully: it takes no new work and lets the
    activities it runs finish (up to 25 s) before it exits 0.
    """
    from pathlib import Path

    from click.core import ParameterSource

    from ringctl.providers.factory import check_kubeconfig, default_sandbox_state, make_providers
    from ringctl.worker import ACTIVITY_THREADS, build_worker, ensure_search_attributes, run_until_signalled
    from ringctl.worker.telemetry import publish_release_states, worker_runtime

    structured_logging(default_level="INFO")  # a service: what it did, not only what went wrong
    from_flag = click.get_current_context().get_parameter_source("kubeconfig") is ParameterSource.COMMANDLINE
    if kubeconfig and (from_flag or deploy_target == "kubernetes"):
        check_kubeconfig(kubeconfig, "--kubeconfig" if from_flag else "KUBECONFIG")
    state = Path(sandbox_state) if sandbox_state else default_sandbox_state()
    sandbox = f"; sandbox state {state}" if "sandbox" in (deploy_target, metrics_source) else ""
    if metrics_source != "prometheus":
        if prometheus_url and click.get_current_context().get_parameter_source("prometheus_url") is (
            ParameterSource.COMMANDLINE
        ):
            raise click.UsageError("--prometheus-url needs --metrics-source prometheus")
        prometheus_url = None  # from the environment: meant for Prometheus workers only
    metrics = f"{metrics_source} at {prometheus_url} for every region" if prometheus_url else metrics_source

    async def go() -> None:
        target, source = make_providers(
            deploy_target, metrics_source, kubeconfig=kubeconfig, sandbox_state=state, prometheus_url=prometheus_url
        )
        try:
            runtime = worker_runtime(metrics_bind)
            client = await client_for(connection, actor, runtime=runtime)
            await ensure_search_attributes(client)
            threads = activity_threads or ACTIVITY_THREADS
            built = build_worker(client, target, source, task_queue=task_queue, activity_threads=threads)
            await run_until_signalled(
                built,
                *([publish_release_states(client, runtime)] if metrics_bind else []),
                health=(client, health_bind) if health_bind else None,
                started=f"worker polling task queue {task_queue!r} ({deploy_target}, {metrics}{sandbox})",
            )
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()  # the Prometheus source's HTTP clients

    run(go())


@click.command()
@connection_options
def setup(connection: ConnectionOptions, actor: str) -> None:
    """Register ringctl's search attributes in the Temporal namespace (once; safe to repeat)."""
    from temporalio.service import RPCError

    from ringctl.core.errors import RingctlError
    from ringctl.core.searchattributes import SEARCH_ATTRIBUTES, type_name
    from ringctl.worker import register_search_attributes

    async def go() -> list[str]:
        client = await client_for(connection, actor)
        try:
            return await register_search_attributes(client)
        except RPCError as exc:
            names = " ".join(f"{key.name}={type_name(key)}" for key in SEARCH_ATTRIBUTES)
            raise RingctlError(
                f"cannot register search attributes in namespace {client.namespace!r}: {exc.message}; "
                f"an operator can (temporal operator search-attribute create, or on Temporal Cloud: "
                f"tcld namespace search-attributes add) with {names}"
            ) from None

    added = run(go())
    click.echo(f"registered {', '.join(added)}" if added else "search attributes already registered")


@click.command()
@click.option(
    "--fail-region",
    help="Make the new version breach its gates in this region: a rollback ring rolls back by itself; "
    "a halt ring halts and the demo acts as on-call (rollback).",
)
@click.option("--plan", "plan_file", default=None, help="Plan file (default: the shipped example).")
@click.option(
    "--speed",
    type=SPEED,
    default=1800.0,  # ringctl.cli.demo.DEFAULT_SPEED
    show_default=True,
    help="Run the plan's bakes, evaluation intervals and rollout timeouts N times faster (release start --speed).",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Keep the server, worker and UI up afterwards; leave a halted release to you (Ctrl-C ends).",
)
def demo(fail_region: str | None, plan_file: str | None, speed: float, keep_running: bool) -> None:
    """Run a local Temporal server, a sandbox worker and one release of the example plan.

    Exit code 0 if the release ended as scripted (completed; rolled back with --fail-region), else 3.
    """
    from ringctl.cli.demo import run_demo

    structured_logging()
    sys.exit(run(run_demo(plan_file=plan_file, fail_region=fail_region, speed=speed, keep_running=keep_running)))
