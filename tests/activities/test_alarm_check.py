"""The ``check_alarms`` activity over :class:`PrometheusSource.series`, against ``httpx.MockTransport``.

Every series an alert query returns is a firing alarm; no series is no alarm;
a Prometheus error, a refused connection or a timeout leaves the region unknown.
(The real Prometheus, with a firing alerting rule: ``tests/system/test_alarm_blocker.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import httpx
import pytest

from ringctl.activities.alarms import AlarmActivities
from ringctl.activities.models import Alarm, AlarmCheck, CheckAlarmsInput
from ringctl.core.alarms import DEFAULT_ALARM_QUERIES, Alarms
from ringctl.core.plan import Region
from ringctl.providers.prometheus import PrometheusSource
from ringctl.providers.query_check import plan_queries
from tests.support.plans import make_plan

URL = "http://prometheus.test:9090"
REGIONS = [Region(name=name, country="US", kube_context=name) for name in ("us-east-1", "eu-west-1")]
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def vector(*series: dict[str, str]) -> httpx.Response:
    result = [{"metric": labels, "value": [1.0, "1"]} for labels in series]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})


async def check(handler: Handler, queries: list[str] | None = None, timeout: float | None = None) -> AlarmCheck:
    source = PrometheusSource(transport=httpx.MockTransport(handler))
    request = CheckAlarmsInput(
        release_id="checkout@2.0.0",
        service="checkout",
        ring="na-eu",
        regions=REGIONS,
        queries=queries or Alarms().queries,
        prometheus_url=URL,
        timeout=timeout,
    )
    async with source:
        return await AlarmActivities(source).check_alarms(request)


async def test_every_series_is_an_alarm_named_by_alertname_once_per_region() -> None:
    sent: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        sent.append(query)
        if 'region="us-east-1"' not in query:
            return vector()
        page = {"alertname": "CheckoutBurn", "region": "us-east-1", "sloth_severity": "page"}
        return vector(page, {**page, "instance": "b"})  # two series of one alert: one alarm

    result = await check(handle)
    assert result == AlarmCheck(firing=[Alarm(name="CheckoutBurn", region="us-east-1")])
    assert sorted(sent) == sorted(q.replace("{region}", r.name) for q in DEFAULT_ALARM_QUERIES for r in REGIONS)


async def test_no_series_means_no_alarm() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return vector()

    assert await check(handle) == AlarmCheck()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}), "bad_data"),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}),
            "a scalar",
        ),
        (httpx.Response(503, text="down"), "HTTP 503"),
    ],
)
async def test_a_failed_query_leaves_the_region_unknown(answer: httpx.Response, error: str) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return answer

    result = await check(handle, ['ALERTS{region="{region}"}'])
    assert not result.firing
    assert set(result.unknown) == {"us-east-1", "eu-west-1"}
    assert all(error in reason for reason in result.unknown.values()), result.unknown


async def test_an_unreachable_or_slow_prometheus_is_unknown_never_clear() -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    refused = await check(refuse)
    assert "cannot connect" in refused.unknown["us-east-1"]

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return vector()

    slowed = await check(slow, timeout=0.2)
    assert slowed.unknown == {"us-east-1": "timed out after 0.2s", "eu-west-1": "timed out after 0.2s"}


def test_check_queries_includes_the_alarm_queries() -> None:
    plan = make_plan(alarms={})
    checked = {q.path: q.query for q in plan_queries(plan)}
    assert checked["alarms.queries[0]"] == DEFAULT_ALARM_QUERIES[0].replace("{region}", "staging-1")
    assert "alarms.queries[1]" in checked
    assert not any(q.path.startswith("alarms") for q in plan_queries(make_plan()))
