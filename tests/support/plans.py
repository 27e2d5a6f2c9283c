"""Small plans for tests, built from the shipped ``rings.yaml`` or from scratch."""

from __future__ import annotations

from typing import Any

from ringctl.core.plan import Plan

SERVICE = "checkout"


def region(name: str, country: str = "US", **extra: Any) -> dict[str, Any]:
    """A region entry whose kube context is named like the region."""
    return {"name": name, "country": country, "kube_context": name, **extra}


def ring(name: str, *regions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ring entry with a short bake and one sandbox-friendly gate."""
    body: dict[str, Any] = {"name": name, "regions": list(regions), "bake": "1s", "gates": [gate()]}
    body.update(extra)
    return body


def gate(**extra: Any) -> dict[str, Any]:
    """An error-ratio gate evaluated every second."""
    body: dict[str, Any] = {
        "name": "error-ratio",
        "query": 'sum(rate(errors{service="{service}",region="{region}"}[{window}]))',
        "comparison": "<=",
        "threshold": 0.01,
        "window": "10s",
        "interval": "1s",
    }
    body.update(extra)
    return body


def plan_data(**overrides: Any) -> dict[str, Any]:
    """A plan: staging, canary, na-eu (two regions), japan (two regions, approval required)."""
    data: dict[str, Any] = {
        "services": [
            {
                "name": SERVICE,
                "image": "registry.example.com/checkout",
                "workload": {"namespace": "checkout", "deployment": "checkout", "container": "app"},
            }
        ],
        "staging": ring("staging", region("staging-1")),
        "rings": [
            ring("canary", region("canary-1")),
            ring("na-eu", region("us-east-1"), region("eu-west-1", "IE"), max_parallel=2),
            ring(
                "japan",
                region("ap-northeast-1", "JP"),
                region("ap-northeast-3", "JP"),
                approval={"required": True, "approvers": ["release-manager"]},
                on_failure="halt",
            ),
        ],
    }
    data.update(overrides)
    return data


def make_plan(**overrides: Any) -> Plan:
    """:func:`plan_data` validated into a :class:`Plan`."""
    return Plan.model_validate(plan_data(**overrides))


def burn_rate_slo() -> dict[str, Any]:
    """An availability SLO over the sandbox's errors, paging at a 14.4x burn; its budget query spans every version."""
    return {
        "name": "availability",
        "sli": 'sum(rate(errors{region="{region}",version="{version}"}[{window}]))',
        "objective": 99.9,
        "interval": "1s",
        "burn_rate": [{"short": "5m", "long": "1h", "factor": 14.4}],
        "budget_query": 'sum(rate(errors{region="{region}"}[{window}]))',
    }
