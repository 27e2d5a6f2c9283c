"""The plan's ``alarms:`` block: page-level alerts that keep a ring from starting while they fire.

Before a ring deploys, each query runs in each of the ring's regions
(``{service}`` and ``{region}`` filled in); every series it returns is an alarm
firing there, named by its ``alertname`` label. No series means no alarm, so a
Prometheus without such alert rules never blocks a release; a query that fails
(Prometheus down, a bad query, a timeout) is unknown and holds the ring like
missing data does, never passes. The defaults read the ``ALERTS`` series of
Sloth's page alerts (``sloth_severity="page"``) and Pyrra's critical ones
(``severity="critical"``) whose ``region`` label is the region.

ringctl's own burn-rate checks count too (``burn_rate``, on by default): each
SLO's ``burn_rate`` windows over its ``budget_query``, the region's bad ratio
of every version, since the ring's regions do not run the new version yet
(:meth:`ringctl.core.slo.Slo.alarm_gates`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, StringConstraints

from ringctl.core.gates import EvaluationInterval
from ringctl.core.planchecks import ConfigModel

__all__ = ["DEFAULT_ALARM_QUERIES", "Alarms"]

#: Firing page alerts of a region, as Sloth and Pyrra label them.
DEFAULT_ALARM_QUERIES = (
    'ALERTS{alertstate="firing", sloth_severity="page", region="{region}"}',
    'ALERTS{alertstate="firing", severity="critical", region="{region}"}',
)


class Alarms(ConfigModel):
    """Alert queries checked in a ring's regions before it deploys; the ring waits while any returns a series."""

    queries: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_ALARM_QUERIES),
        min_length=1,
        description="PromQL templates ({service}, {region}); every series returned is a firing alarm, "
        "named by its alertname label",
    )
    burn_rate: bool = Field(
        default=True,
        description="also the burn-rate checks of the service's SLOs, over every version (their budget_query)",
    )
    interval: EvaluationInterval = Field(
        default=timedelta(minutes=1), description="how often a waiting ring checks again"
    )
