"""The ``ringctl`` command line: validate plans, start and steer releases, run the worker, demo.

Exit codes: 0 success; 1 refused command or invalid plan; 2 usage error;
3 a release waited on with ``--wait`` ended without completing; 4 Temporal or a worker did
not take the command in time (nothing was applied, and it never will be: safe to retry).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import click
from temporalio.service import RPCError, RPCStatusCode

from ringctl.cli.render import render_status
from ringctl.client.connection import ConnectionOptions, connect
from ringctl.core.constants import TASK_QUEUE
from ringctl.core.errors import PlanError, RingctlError, UnavailableError
from ringctl.core.identity import ACTOR_ENV, current_actor
from ringctl.core.log import configure_logging
from ringctl.core.plan import Plan
from ringctl.core.planfile import DEFAULT_PLAN, load_plan
from ringctl.core.timescale import MAX_SPEED
from ringctl.workflows.models import AbortRequest, ApproveRequest, PauseRequest, ReleaseState, ResumeRequest
from ringctl.workflows.ring_release import RingRelease

EXIT_REFUSED = 1
#: Temporal or a worker did not take the command in time: nothing was applied, safe to retry.
EXIT_UNAVAILABLE = 4
EXIT_NOT_COMPLETED = 3
#: ``--speed``: how many times faster than written a plan's waits run (:mod:`ringctl.core.timescale`).
SPEED = click.FloatRange(1.0, MAX_SPEED)

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Temporal connection flags; unset flags fall back to TEMPORAL_* environment variables."""

    @click.option("--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port [TEMPORAL_ADDRESS].")
    @click.option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace [TEMPORAL_NAMESPACE].")
    @click.option("--api-key", envvar="TEMPORAL_API_KEY", help="API key [TEMPORAL_API_KEY].")
    @click.option("--tls/--no-tls", default=None, help="Use TLS (on by default with an API key).")
    @click.option("--as", "actor", envvar=ACTOR_ENV, help=f"Who is acting, recorded in the audit log [{ACTOR_ENV}].")
    @wraps(func)
    def wrapper(
        address: str | None, namespace: str | None, api_key: str | None, tls: bool | None, actor: str | None, **kw: Any
    ) -> Any:
        if actor is not None and not actor.strip():
            raise click.BadParameter("must not be empty", param_hint="--as")
        kw["connection"] = ConnectionOptions(address=address, namespace=namespace, api_key=api_key, tls=tls)
        kw["actor"] = current_actor(actor)
        return func(**kw)

    return wrapper


def _nonblank_reason(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--reason`` callback: a given reason must say something (it is recorded in the audit log)."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


async def _client(connection: ConnectionOptions, actor: str) -> Any:
    return await connect(connection, identity=f"ringctl:{actor}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-json/--log-text", default=None, help="Log format (default: JSON unless on a terminal).")
@click.option("--log-level", default="WARNING", show_default=True, help="Log level.")
def cli(log_json: bool | None, log_level: str) -> None:
    """ringctl: release a service through staging and rings of regions, Japan last, gated by SLOs."""
    configure_logging(json=log_json, level=log_level)


# -- plans ---------------------------------------------------------------------


@cli.command()
@click.argument("file", default=DEFAULT_PLAN, type=click.Path())
@click.option("--check-queries", is_flag=True, help="Also have Prometheus parse every templated query.")
@click.option("--prometheus-url", help="Prometheus to ask (default: the plan's prometheus.url).")
def validate(file: str, check_queries: bool, prometheus_url: str | None) -> None:
    """Check a plan file; print every problem with its field path."""
    try:
        plan = load_plan(file)
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        sys.exit(EXIT_REFUSED)
    rings = " -> ".join(ring.name for ring in plan.stages)
    if check_queries:
        from ringctl.providers.query_check import check_plan_queries, plan_queries

        url = prometheus_url or plan.prometheus.url
        try:
            problems = _run(check_plan_queries(plan, url, plan.prometheus.timeout.total_seconds()))
        except RingctlError as exc:
            click.echo(f"error: cannot check queries: {exc}", err=True)
            sys.exit(EXIT_REFUSED)
        for query, problem in problems:
            click.echo(f"{file}: {query.path}: {problem}", err=True)
        if problems:
            sys.exit(EXIT_REFUSED)
        click.echo(f"{file}: {len(plan_queries(plan))} queries parse at {url}")
    click.echo(f"{file}: ok ({len(plan.services)} services; {rings})")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of rings.yaml."""
    click.echo(json.dumps(Plan.model_json_schema(), indent=2))


# -- releases ------------------------------------------------------------------


@cli.group()
def release() -> None:
    """Start releases."""


@release.command("start")
@click.option("--service", required=True, help="Service to release (as named in the plan).")
@click.option("--version", "version", required=True, help="Version to release.")
@click.option("--image", help="Image to deploy (default: <service image>:<version>).")
@click.option("--plan", "plan_file", default=DEFAULT_PLAN, show_default=True, help="Plan file.")
@click.option("--task-queue", default=TASK_QUEUE, show_default=True, hidden=True)
@click.option("--wait", is_flag=True, help="Wait for the end; exit 0 only if the release completed.")
@click.option(
    "--speed",
    type=SPEED,
    default=1.0,
    show_default=True,
    help="Run the plan's bakes, evaluation intervals and rollout timeouts N times faster (demos, tests; recorded).",
)
@_connection_options
def release_start(
    service: str,
    version: str,
    image: str | None,
    plan_file: str,
    task_queue: str,
    wait: bool,
    speed: float,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """Start a release; prints its id."""
    from ringctl.client.releases import release_id_for, start_release
    from ringctl.core.versions import check_version

    try:
        check_version(version)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    plan = load_plan(plan_file)

    async def go() -> ReleaseState | None:
        client = await _client(connection, actor)
        handle = await start_release(
            client,
            plan,
            service=service,
            version=version,
            image=image,
            started_by=actor,
            task_queue=task_queue,
            speed=speed,
        )
        release_id = release_id_for(service, version)
        click.echo(release_id)
        if not wait:
            return None
        status = await handle.result()
        click.echo(f"{release_id}: {status.state}: {status.reason}", err=True)
        return status.state

    state = _run(go())
    if state is not None and state is not ReleaseState.COMPLETED:
        sys.exit(EXIT_NOT_COMPLETED)


def _command(name: str, update: Any, build: Callable[..., Any], help_text: str) -> Callable[..., Any]:
    """Define a command that sends one Update to a release."""

    @_connection_options
    def command(release: str, connection: ConnectionOptions, actor: str, **fields: Any) -> None:
        from ringctl.client.releases import send

        async def go() -> None:
            client = await _client(connection, actor)
            result = await send(client, release, update, build(by=actor, **fields))
            click.echo(f"{result.release_id}: {result.message} (state: {result.state})")

        _run(go())

    command.__doc__ = help_text
    return cli.command(name)(click.argument("release")(command))


@cli.command()
@click.argument("release")
@click.option("--ring", required=True, help="Ring to approve.")
@click.option("--comment", default="", help="Why (recorded).")
@click.option("--override-budget", is_flag=True, help="Deploy the ring although its error budget is exhausted.")
@click.option("--override-window", is_flag=True, help="Deploy the ring outside its window or during a freeze.")
@click.option("--reason", default="", help="Why the override is needed (required with an override; recorded).")
@click.option(
    "--key",
    "key_file",
    envvar="RINGCTL_APPROVAL_KEY",
    type=click.Path(dir_okay=False),
    help="Your Ed25519 private key: sign the approval (plans with approvals.signing: required) [RINGCTL_APPROVAL_KEY].",
)
@_connection_options
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

    from ringctl.client.releases import get_status, send
    from ringctl.core.signing import ApprovalClaim, load_private_key, sign_claim

    if (override_budget or override_window) and not reason.strip():
        flag = "--override-budget" if override_budget else "--override-window"
        raise click.BadParameter(f"must say why, with {flag}", param_hint="--reason")

    async def go() -> None:
        client = await _client(connection, actor)
        request = ApproveRequest(
            by=actor,
            ring=ring,
            comment=comment,
            override_budget=override_budget,
            override_window=override_window,
            reason=reason,
        )
        if key_file:
            private_key = load_private_key(key_file)
            current = await get_status(client, release)
            claim = ApprovalClaim(
                release_id=current.release_id,
                ring=ring,
                version=current.version,
                approver=actor,
                signed_at=datetime.now(UTC),
            )
            request = request.model_copy(
                update={
                    "release_id": current.release_id,
                    "signed_at": claim.signed_at,
                    "signature": sign_claim(private_key, claim),
                }
            )
        result = await send(client, release, RingRelease.approve, request)
        click.echo(f"{result.release_id}: {result.message} (state: {result.state})")

    _run(go())


@cli.group()
def keys() -> None:
    """Approval signing keys."""


@keys.command("generate")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False))
def keys_generate(name: str, directory: str) -> None:
    """Create NAME.key (private, mode 0600) and NAME.pub; print the plan entry for the public key."""
    from pathlib import Path

    from ringctl.core.signing import generate_keypair

    private_pem, public_b64 = generate_keypair()
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if private_path.exists():
        raise RingctlError(f"{private_path} exists; refusing to overwrite a private key")
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private_pem)
    public_path.write_text(public_b64 + "\n", encoding="utf-8")
    click.echo(f"wrote {private_path} (keep it secret) and {public_path}", err=True)
    click.echo(f"approvals:\n  signing: required\n  public_keys:\n    {name}: {public_b64}")


@cli.command()
@click.argument("release", required=False)
@click.option("--service", help="Roll back this service's latest release (instead of RELEASE).")
@click.option("--reason", required=True, callback=_nonblank_reason, help="Why (recorded).")
@_connection_options
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
        client = await _client(connection, actor)
        result = await rollback_release(client, target, by=actor, reason=reason)
        click.echo(f"{result.release_id}: {result.message} (state: {result.state})")

    _run(go())


pause = click.option("--reason", default="", help="Why (recorded).")(
    _command("pause", RingRelease.pause, PauseRequest, "Pause RELEASE: nothing new is deployed or promoted.")
)
resume = click.option("--reason", default="", help="Why (recorded).")(
    _command("resume", RingRelease.resume, ResumeRequest, "Resume a paused RELEASE, or retry its halted ring.")
)
abort = click.option("--reason", required=True, callback=_nonblank_reason, help="Why (recorded).")(
    _command("abort", RingRelease.abort, AbortRequest, "End RELEASE where it is, without rolling back.")
)


OUTPUT = click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)


@cli.command()
@click.argument("release", required=False)
@OUTPUT
@click.option("--watch", is_flag=True, help="Refresh every --interval seconds until the release ends.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes with --watch.")
@_connection_options
def status(
    release: str | None, output: str, watch: bool, interval: float, connection: ConnectionOptions, actor: str
) -> None:
    """Show a release (RELEASE is service@version or a service); without RELEASE, list releases."""
    from ringctl.client.releases import get_status

    if release is None:
        if watch:
            raise click.UsageError("--watch needs a RELEASE")
        _print_list(connection, actor, None, None, output)
        return

    async def go() -> None:
        client = await _client(connection, actor)
        while True:
            current = await get_status(client, release)
            if output == "json":
                click.echo(current.model_dump_json(indent=2) if not watch else current.model_dump_json())
            else:
                if watch:
                    click.echo("\x1b[2J\x1b[H", nl=False)  # clear the screen
                click.echo(render_status(current))
            if not watch or current.state.is_final:
                return
            await asyncio.sleep(interval)

    _run(go())


@cli.command()
@click.argument("release")
@OUTPUT
@_connection_options
def history(release: str, output: str, connection: ConnectionOptions, actor: str) -> None:
    """Show the audit log of RELEASE: every action, who did it, when and why."""
    from ringctl.cli.render import render_events
    from ringctl.client.releases import get_status

    async def go() -> None:
        client = await _client(connection, actor)
        current = await get_status(client, release)
        if output == "json":
            click.echo(json.dumps([e.model_dump(mode="json") for e in current.events], indent=2))
        else:
            click.echo(render_events(current.events))

    _run(go())


@cli.command("list")
@click.option("--service", help="Only this service's releases.")
@click.option("--state", help="Only releases in this state (e.g. awaiting_approval, completed).")
@OUTPUT
@_connection_options
def list_command(
    service: str | None, state: str | None, output: str, connection: ConnectionOptions, actor: str
) -> None:
    """List releases, newest first, from Temporal visibility."""
    _print_list(connection, actor, service, state, output)


def _print_list(connection: ConnectionOptions, actor: str, service: str | None, state: str | None, output: str) -> None:
    from ringctl.client.releases import list_releases

    async def go() -> None:
        client = await _client(connection, actor)
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

    _run(go())


# -- processes -----------------------------------------------------------------


@cli.command()
@click.option("--deploy-target", type=click.Choice(["kubernetes", "sandbox"]), default="kubernetes", show_default=True)
@click.option("--metrics-source", type=click.Choice(["prometheus", "sandbox"]), default="prometheus", show_default=True)
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig with one context per region [KUBECONFIG].")
@click.option("--task-queue", default=TASK_QUEUE, show_default=True)
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
@_connection_options
def worker(
    deploy_target: str,
    metrics_source: str,
    kubeconfig: str | None,
    task_queue: str,
    activity_threads: int | None,
    sandbox_state: str | None,
    prometheus_url: str | None,
    connection: ConnectionOptions,
    actor: str,
) -> None:
    """Run a worker that executes releases."""
    from pathlib import Path

    from click.core import ParameterSource

    from ringctl.providers.factory import check_kubeconfig, default_sandbox_state, make_providers
    from ringctl.worker import ACTIVITY_THREADS, build_worker, ensure_search_attributes

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
            client = await _client(connection, actor)
            await ensure_search_attributes(client)
            click.echo(f"worker polling task queue {task_queue!r} ({deploy_target}, {metrics}{sandbox})", err=True)
            threads = activity_threads or ACTIVITY_THREADS
            await build_worker(client, target, source, task_queue=task_queue, activity_threads=threads).run()
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()  # the Prometheus source's HTTP clients

    _run(go())


@cli.command()
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

    sys.exit(_run(run_demo(plan_file=plan_file, fail_region=fail_region, speed=speed, keep_running=keep_running)))


def main() -> None:
    """Entry point: run the CLI, turn ringctl's errors into one line, and exit with its code.

    The process ends with ``os._exit`` after flushing: the Temporal client's
    native threads can crash CPython's finalization of a short-lived process
    (temporalio/sdk-python#300), and there is nothing left to clean up here.
    """
    code = _main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main() -> int:
    try:
        cli.main(standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        return EXIT_REFUSED
    except UnavailableError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_UNAVAILABLE
    except RingctlError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_REFUSED
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            click.echo(f"error: Temporal did not answer: {exc.message}", err=True)
            return EXIT_UNAVAILABLE
        click.echo(f"error: Temporal refused the call: {exc.message}", err=True)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    return 0
