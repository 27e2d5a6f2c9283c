"""``ringctl validate --check-queries``: have Prometheus parse every templated query of a plan.

Each query is rendered with placeholder values (the service's name, the ring's
first region, version ``0.0.0``, the gate's window) and sent once to
Prometheus' parse endpoint through :meth:`PrometheusSource.check_query`. Problems
are reported per field path, e.g. ``services[0].slos[1].sli: 1:17: parse error ...``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from ringctl.core.plan import Plan
from ringctl.core.query import promql_duration, render_query
from ringctl.providers.prometheus import PrometheusSource

#: Placeholder version used to render ``{version}`` and ``{previous_version}``.
PLACEHOLDER_VERSION = "0.0.0"


@dataclass(frozen=True)
class TemplatedQuery:
    """One query of the plan: where it is, and its rendering with placeholder values."""

    path: str
    query: str


def plan_queries(plan: Plan) -> list[TemplatedQuery]:
    """Every PromQL template of ``plan``, rendered with placeholders, with its field path."""
    out: list[TemplatedQuery] = []

    def add(path: str, template: str | None, service: str, region: str, window: timedelta) -> None:
        if not template:
            return
        variables = {
            "service": service,
            "region": region,
            "version": PLACEHOLDER_VERSION,
            "previous_version": PLACEHOLDER_VERSION,
            "window": promql_duration(window),
        }
        out.append(TemplatedQuery(path, render_query(template, variables)))

    for i, service in enumerate(plan.services):
        region = plan.staging.regions[0].name
        for j, slo in enumerate(service.slos):
            base = f"services[{i}].slos[{j}]"
            add(f"{base}.sli", slo.sli, service.name, region, slo.gate_window)
            add(f"{base}.samples_query", slo.samples_query, service.name, region, slo.gate_window)
            add(f"{base}.budget_query", slo.budget_query, service.name, region, slo.window)
            add(f"{base}.budget_samples_query", slo.budget_samples_query, service.name, region, slo.window)
    for i, ring in enumerate(plan.stages):
        for j, gate in enumerate(ring.gates):
            base = f"{plan.stage_path(i)}.gates[{j}]"
            add(f"{base}.query", gate.query, plan.services[0].name, ring.regions[0].name, gate.window)
            add(f"{base}.samples_query", gate.samples_query, plan.services[0].name, ring.regions[0].name, gate.window)
    for i, query in enumerate(plan.alarms.queries if plan.alarms else []):
        add(f"alarms.queries[{i}]", query, plan.services[0].name, plan.staging.regions[0].name, timedelta(0))
    return out


async def check_plan_queries(plan: Plan, url: str, timeout: float = 10.0) -> list[tuple[TemplatedQuery, str]]:
    """Send every query of ``plan`` to Prometheus at ``url`` once, concurrently; the ones that do not parse.

    Raises :class:`~ringctl.core.errors.TransientError` when Prometheus cannot be asked.
    """
    queries = plan_queries(plan)
    async with PrometheusSource(timeout=timeout) as source:
        problems = await asyncio.gather(*(source.check_query(q.query, url) for q in queries))
    return [(query, problem) for query, problem in zip(queries, problems, strict=False) if problem is not None]


__all__ = ["PLACEHOLDER_VERSION", "TemplatedQuery", "check_plan_queries", "plan_queries"]
