"""One factory from the worker's flags to provider instances; an unknown kind is an error."""

from __future__ import annotations

from activities.providers import DeployTarget, MetricsSource
from ringctl.errors import RingctlError


def make_providers(deploy_target: str, metrics_source: str, *, kubeconfig: str | None = None) -> tuple[DeployTarget, MetricsSource]:
    """Build the deploy target and metrics source named by the worker's flags.

    ``sandbox`` is a simulation (see :mod:`activities.sandbox`); both sandbox
    providers share one simulated world.
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

        source = PrometheusSource()
    elif metrics_source == "sandbox":
        source = SandboxMetricsSource(world)
    else:
        raise RingctlError(f"unknown metrics source {metrics_source!r}; use prometheus or sandbox")
    return target, source
