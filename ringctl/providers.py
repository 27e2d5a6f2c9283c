"""One factory from the worker's flags to provider instances; an unknown kind is an error."""

from __future__ import annotations

from activities.providers import DeployTarget, MetricsSource
from ringctl.errors import RingctlError

#: Client-side limit of one Prometheus query, in seconds. Releases also bound each
#: query by their plan's ``prometheus.timeout``; the smaller of the two applies.
DEFAULT_PROMETHEUS_TIMEOUT = 30.0


def make_providers(
    deploy_target: str,
    metrics_source: str,
    *,
    kubeconfig: str | None = None,
    prometheus_timeout: float = DEFAULT_PROMETHEUS_TIMEOUT,
) -> tuple[DeployTarget, MetricsSource]:
    """Build the deploy target and metrics source named by the worker's flags.

    ``sandbox`` is a simulation (see :mod:`activities.sandbox`); both sandbox
    providers share one simulated world. The Prometheus source keeps one HTTP
    client per Prometheus URL; close it with ``await source.aclose()``.
    """
    from activities.sandbox import SandboxDeployTarget, SandboxMetricsSource, SandboxWorld

    world = SandboxWorld()
    target: DeployTarget
    source: MetricsSource
    if deploy_target == "kubernetes":
        from activities.kubernetes import KubernetesDeployTarget

        target = KubernetesDeployTarget(kubeconfig=kubeconfig)
    elif deploy_target == "sandbox":
        target = SandboxDeployTarget(world)
    else:
        raise RingctlError(f"unknown deploy target {deploy_target!r}; use kubernetes or sandbox")
    if metrics_source == "prometheus":
        from activities.prometheus import PrometheusSource

        source = PrometheusSource(timeout=prometheus_timeout)
    elif metrics_source == "sandbox":
        source = SandboxMetricsSource(world)
    else:
        raise RingctlError(f"unknown metrics source {metrics_source!r}; use prometheus or sandbox")
    return target, source
