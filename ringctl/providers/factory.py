"""One factory from the worker's flags to provider instances; an unknown kind is an error."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ringctl.core.errors import RingctlError
from ringctl.providers.interfaces import DeployTarget, MetricsSource

#: Client-side limit of one Prometheus query, in seconds. Releases also bound each
#: query by their plan's ``prometheus.timeout``; the smaller of the two applies.
DEFAULT_PROMETHEUS_TIMEOUT = 30.0
#: Environment variable naming the sandbox providers' state directory (``--sandbox-state``).
SANDBOX_STATE_ENV = "RINGCTL_SANDBOX_STATE"
#: Environment variable naming the Prometheus queried for every region (``--prometheus-url``).
PROMETHEUS_URL_ENV = "RINGCTL_PROMETHEUS_URL"


def default_sandbox_state() -> Path:
    """Where sandbox providers keep their state by default: ``${XDG_STATE_HOME:-~/.local/state}/ringctl/sandbox``."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "ringctl" / "sandbox"


def make_providers(
    deploy_target: str,
    metrics_source: str,
    *,
    kubeconfig: str | None = None,
    prometheus_timeout: float = DEFAULT_PROMETHEUS_TIMEOUT,
    sandbox_state: Path | None = None,
    prometheus_url: str | None = None,
) -> tuple[DeployTarget, MetricsSource]:
    """Build the deploy target and metrics source named by the worker's flags.

    ``sandbox`` is a simulation (see :mod:`ringctl.providers.sandbox`); both sandbox
    providers share one simulated world, kept in the ``sandbox_state`` directory
    (created if missing; ``None``: in memory) and scripted by its ``scenario.json``.
    The Prometheus source keeps one HTTP client per Prometheus URL; close it
    with ``await source.aclose()``. ``prometheus_url`` (``--prometheus-url``)
    is queried for every region instead of the URLs the plan names.
    """
    from ringctl.providers.sandbox import SandboxDeployTarget, SandboxMetricsSource, SandboxWorld

    world: SandboxWorld | None = None
    if "sandbox" in (deploy_target, metrics_source):
        try:
            world = SandboxWorld(state_dir=sandbox_state)
        except (OSError, sqlite3.Error) as exc:
            raise RingctlError(f"--sandbox-state {sandbox_state}: {exc}") from exc
    target: DeployTarget
    source: MetricsSource
    if deploy_target == "kubernetes":
        from ringctl.providers.kubernetes import KubernetesDeployTarget

        target = KubernetesDeployTarget(kubeconfig=kubeconfig)
    elif deploy_target == "sandbox" and world is not None:
        target = SandboxDeployTarget(world)
    else:
        raise RingctlError(f"unknown deploy target {deploy_target!r}; use kubernetes or sandbox")
    if metrics_source == "prometheus":
        from ringctl.providers.prometheus import PrometheusSource

        try:
            source = PrometheusSource(timeout=prometheus_timeout, url=prometheus_url)
        except ValueError as exc:
            raise RingctlError(f"--prometheus-url: {exc}") from exc
    elif metrics_source == "sandbox" and world is not None:
        source = SandboxMetricsSource(world)
    else:
        raise RingctlError(f"unknown metrics source {metrics_source!r}; use prometheus or sandbox")
    return target, source


def check_kubeconfig(kubeconfig: str, name: str = "--kubeconfig") -> None:
    """Refuse a kubeconfig that names no readable file (``name`` is the flag or variable it came from).

    Like ``KUBECONFIG``, it may list several files separated by ``os.pathsep``; one existing file is enough.
    """
    paths = [Path(part).expanduser() for part in kubeconfig.split(os.pathsep) if part]
    if any(path.is_file() for path in paths):
        return
    problem = "not a file" if paths and all(path.exists() for path in paths) else "no such file"
    raise RingctlError(f"{name} {kubeconfig}: {problem}")
