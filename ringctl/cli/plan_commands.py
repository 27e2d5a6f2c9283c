"""Plan and key commands: ``validate``, ``schema``, ``keys generate``."""

from __future__ import annotations

import json
import os
import sys

import click

from ringctl.cli.options import EXIT_REFUSED, run, structured_logging
from ringctl.core.constants import DEFAULT_PLAN
from ringctl.core.errors import PlanError, RingctlError


@click.command()
@click.argument("file", default=DEFAULT_PLAN, type=click.Path())
@click.option("--check-queries", is_flag=True, help="Also have Prometheus parse every templated query.")
@click.option("--prometheus-url", help="Prometheus to ask (default: the plan's prometheus.url).")
def validate(file: str, check_queries: bool, prometheus_url: str | None) -> None:
    """Check a plan file; print every problem with its field path."""
    from ringctl.core.planfile import load_plan

    try:
        plan = load_plan(file)
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        sys.exit(EXIT_REFUSED)
    rings = " -> ".join(ring.name for ring in plan.stages)
    if check_queries:
        from ringctl.providers.query_check import check_plan_queries, plan_queries

        structured_logging()
        url = prometheus_url or plan.prometheus.url
        try:
            problems = run(check_plan_queries(plan, url, plan.prometheus.timeout.total_seconds()))
        except RingctlError as exc:
            click.echo(f"error: cannot check queries: {exc}", err=True)
            sys.exit(EXIT_REFUSED)
        for query, problem in problems:
            click.echo(f"{file}: {query.path}: {problem}", err=True)
        if problems:
            sys.exit(EXIT_REFUSED)
        click.echo(f"{file}: {len(plan_queries(plan))} queries parse at {url}")
    click.echo(f"{file}: ok ({len(plan.services)} services; {rings})")


@click.command()
def schema() -> None:
    """Print the JSON Schema of rings.yaml."""
    from ringctl.core.plan import Plan

    click.echo(json.dumps(Plan.model_json_schema(), indent=2))


@click.group()
def keys() -> None:
    """Approval signing keys."""


@keys.command("generate")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False))
def keys_generate(name: str, directory: str) -> None:
    """Create NAME.key (private, mode 0600) and NAME.pub; print the plan entry for the public key."""
    from pathlib import Path

    from ringctl.core.signing import generate_keypair, key_fingerprint

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
    click.echo(f"fingerprint {key_fingerprint(name, public_b64)} (shown on signed approvals)", err=True)
    click.echo(f"approvals:\n  signing: required\n  public_keys:\n    {name}: {public_b64}")
