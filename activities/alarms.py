"""The alarm check before a ring deploys: which page alerts fire in its regions (the plan's ``alarms:``).

The metrics source runs each alert query in each region (all at once); every
series returned is an alarm, named by its ``alertname`` label. A query that
fails or times out leaves the region's alarms unknown, which the workflow
treats as a hold, never as "no alarm".
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from ringctl.activities.boundary import translated
from ringctl.activities.models import Alarm, AlarmCheck, CheckAlarmsInput
from ringctl.core.plan import Region
from ringctl.core.query import render_query
from ringctl.providers.interfaces import MetricsSource
from ringctl.providers.models import Series


class AlarmActivities:
    """Alarm activities bound to a metrics source."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    @activity.defn
    @translated
    async def check_alarms(self, request: CheckAlarmsInput) -> AlarmCheck:
        """The alarms firing in the ring's regions; Prometheus errors and timeouts make a region unknown."""

        async def read(query: str, region: Region) -> Series:
            rendered = render_query(query, {"service": request.service, "region": region.name})
            url = region.prometheus_url or request.prometheus_url
            try:
                return await asyncio.wait_for(self._source.series(rendered, region, url), request.timeout)
            except TimeoutError:
                return Series(query=rendered, error=f"timed out after {request.timeout:g}s")

        pairs = [(query, region) for region in request.regions for query in request.queries]
        readings = await asyncio.gather(*(read(query, region) for query, region in pairs))
        firing: list[Alarm] = []
        unknown: dict[str, str] = {}
        for (_, region), reading in zip(pairs, readings, strict=True):
            if reading.error is not None:
                unknown.setdefault(region.name, reading.error)
            for labels in reading.series:
                alarm = Alarm(name=alarm_name(labels), region=region.name)
                if alarm not in firing:
                    firing.append(alarm)
        return AlarmCheck(firing=firing, unknown=unknown)


def alarm_name(labels: dict[str, str]) -> str:
    """An alert's name: its ``alertname`` label, else its label set as PromQL writes it."""
    if "alertname" in labels:
        return labels["alertname"]
    return "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
