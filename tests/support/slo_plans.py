"""Plans with SLO gates over the traffic simulator's metrics, sized for tests (seconds, not hours)."""

from __future__ import annotations

from typing import Any

from ringctl.core.plan import Plan

#: Bad-event ratio of one version in one region; 0 (not "no data") when no 5xx series moves.
ERROR_RATIO = (
    '(sum(rate(http_requests_total{service="{service}",region="{region}",version="{version}",code=~"5.."}[{window}]))'
    " or vector(0))"
    ' / sum(rate(http_requests_total{service="{service}",region="{region}",version="{version}"}[{window}]))'
)
REQUESTS = 'sum(increase(http_requests_total{service="{service}",region="{region}",version="{version}"}[{window}]))'
BUDGET_RATIO = (
    '(sum(increase(http_requests_total{service="{service}",region="{region}",code=~"5.."}[{window}])) or vector(0))'
    ' / sum(increase(http_requests_total{service="{service}",region="{region}"}[{window}]))'
)
BUDGET_REQUESTS = 'sum(increase(http_requests_total{service="{service}",region="{region}"}[{window}]))'
LATENCY_P99 = (
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
    '{service="{service}",region="{region}",version="{version}"}[{window}])))'
)
LATENCY_REQUESTS = 'sum(increase(http_request_duration_seconds_count{service="{service}",region="{region}",version="{version}"}[{window}]))'


def slos(interval: str = "1s", gate_window: str = "5s", min_samples: float = 20) -> list[dict[str, Any]]:
    """An availability SLO (99 %, threshold + burn rate + budget) and a p99 latency SLO (< 0.5 s)."""
    return [
        {
            "name": "availability",
            "sli": ERROR_RATIO,
            "samples_query": REQUESTS,
            "objective": 99,
            "window": "30s",
            "gate_window": gate_window,
            "burn_rate": [{"short": "3s", "long": "8s", "factor": 5}],
            "error_budget": False,
            "budget_query": BUDGET_RATIO,
            "budget_samples_query": BUDGET_REQUESTS,
            "min_samples": min_samples,
            "missing_data": "hold",
            "interval": interval,
            "consecutive_healthy": 2,
        },
        {
            "name": "latency-p99",
            "sli_type": "value",
            "sli": LATENCY_P99,
            "samples_query": LATENCY_REQUESTS,
            "objective": 99,
            "threshold": 0.5,
            "gate_window": gate_window,
            "min_samples": min_samples,
            "missing_data": "hold",
            "interval": interval,
            "consecutive_healthy": 2,
        },
    ]


def stage(name: str, *regions: str, bake: str = "2s", **extra: Any) -> dict[str, Any]:
    """A ring of US regions (``ap-northeast-*`` regions are Japanese) without plain gates."""
    entries = [
        {"name": r, "country": "JP" if r.startswith("ap-northeast") else "US", "kube_context": r} for r in regions
    ]
    return {"name": name, "regions": entries, "bake": bake, **extra}


def slo_plan(
    service: str, prometheus_url: str, staging: dict[str, Any], rings: list[dict[str, Any]], **slo_args: Any
) -> Plan:
    """A plan releasing ``service`` with :func:`slos`, reading Prometheus at ``prometheus_url``."""
    return Plan.model_validate(
        {
            "services": [
                {
                    "name": service,
                    "image": f"registry.example.com/{service}",
                    "workload": {"deployment": service, "container": "app"},
                    "slos": slos(**slo_args),
                }
            ],
            "prometheus": {"url": prometheus_url, "timeout": "3s"},
            "staging": staging,
            "rings": rings,
        }
    )
