"""PrometheusSource against a real Prometheus scraping the traffic simulator, plus parsing edge cases.

The integration tests use the session's simulator and Prometheus (1 s scrapes,
``metrics_bed``) with a service of their own and 5-10 s windows; every series
they need is created when the module starts, and ``source`` waits until its
data is there. Without a ``prometheus`` binary they skip, except in CI
(``CI=true``) where they fail.
The unit tests at the end use ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from ringctl.activities.gates import judge
from ringctl.activities.models import GateDecision
from ringctl.core.plan import Region, ThresholdGate
from ringctl.core.query import render_query
from ringctl.providers.factory import make_providers
from ringctl.providers.models import Measurement
from ringctl.providers.prometheus import PrometheusSource
from tests.support.metrics_bed import MetricsBed
from tests.support.polling import eventually
from tests.support.prometheus_server import PrometheusServer
from tests.support.traffic import TrafficSimulator

T = TypeVar("T")

# The gate templates of rings.yaml, with test-sized windows and sample counts.
ERROR_RATIO_QUERY = (
    'sum(rate(http_requests_total{service="{service}",region="{region}",version="{version}",code=~"5.."}[{window}]))'
    ' / sum(rate(http_requests_total{service="{service}",region="{region}",version="{version}"}[{window}]))'
)
ERROR_RATIO_SAMPLES = (
    'sum(increase(http_requests_total{service="{service}",region="{region}",version="{version}"}[{window}]))'
)
LATENCY_QUERY = (
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
    '{service="{service}",region="{region}",version="{version}"}[{window}])))'
)
LATENCY_SAMPLES = 'sum(increase(http_request_duration_seconds_count{service="{service}",region="{region}",version="{version}"}[{window}]))'

SERVICE = "prometheus-source"  # its own: the session's other tests never read its series
REGION = Region(name="us-west-2", country="US", kube_context="test-us-west-2")
RPS = 50.0
MIN_SAMPLES = 100.0

HEALTHY = "1.0.0"  # 0 % errors, 50 ms
DEGRADING = "1.1.0"  # starts healthy; a test raises its error ratio to 5 %
SLOW = "1.2.0"  # 800 ms: p99 breaches 0.5 s
STOPPING = "1.3.0"  # a test stops its traffic
UNSERVED = "9.9.9"  # never receives traffic


def gate(name: str, window: str = "10s", **overrides: Any) -> ThresholdGate:
    """A rings.yaml gate (``error-ratio`` or ``latency-p99``) with a short window."""
    fields: dict[str, Any] = {
        "error-ratio": {"query": ERROR_RATIO_QUERY, "samples_query": ERROR_RATIO_SAMPLES, "threshold": 0.001},
        "latency-p99": {"query": LATENCY_QUERY, "samples_query": LATENCY_SAMPLES, "threshold": 0.5},
    }[name]
    return ThresholdGate.model_validate(
        {
            "name": name,
            "comparison": "<=",
            "window": window,
            "interval": "1s",
            "min_samples": MIN_SAMPLES,
            "missing_data": "hold",
            **fields,
            **overrides,
        }
    )


def variables(version: str, window: str = "10s") -> dict[str, str]:
    """Template variables as ``GateActivities.evaluate_gates`` passes them."""
    return {"service": SERVICE, "region": REGION.name, "version": version, "previous_version": "", "window": window}


# -- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def traffic(metrics_bed: MetricsBed) -> TrafficSimulator:
    """The session's simulator, serving every series of this module's service."""
    sim = metrics_bed.traffic
    for version in (HEALTHY, DEGRADING, STOPPING):
        sim.set(SERVICE, REGION.name, version, rps=RPS, error_ratio=0.0, latency=0.05)
    sim.set(SERVICE, REGION.name, SLOW, rps=RPS, error_ratio=0.0, latency=0.8)
    return sim


@pytest.fixture(scope="module")
def prometheus(metrics_bed: MetricsBed, traffic: TrafficSimulator) -> PrometheusServer:
    """The session's real Prometheus, scraping the simulator every second."""
    return metrics_bed.prometheus


@pytest.fixture(scope="module")
async def source(prometheus: PrometheusServer) -> AsyncIterator[PrometheusSource]:
    """A source whose healthy series already has ``MIN_SAMPLES`` in the window."""
    async with PrometheusSource(timeout=5) as src:
        ready = await eventually(
            lambda: src.measure(gate("error-ratio"), REGION, variables(HEALTHY), prometheus.url),
            lambda m: m.samples is not None and m.samples >= MIN_SAMPLES,
        )
        assert ready.samples is not None and ready.samples >= MIN_SAMPLES, ready
        yield src


# -- against the real Prometheus ----------------------------------------------


async def test_healthy_version_passes(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    error_ratio = gate("error-ratio")
    measurement = await source.measure(error_ratio, REGION, variables(HEALTHY), prometheus.url)

    assert measurement.error is None
    assert measurement.query == render_query(ERROR_RATIO_QUERY, variables(HEALTHY))
    assert measurement.value == pytest.approx(0.0, abs=1e-9)
    assert measurement.samples is not None and measurement.samples > MIN_SAMPLES
    assert judge(error_ratio, measurement)[0] == GateDecision.PASS

    latency = await source.measure(gate("latency-p99"), REGION, variables(HEALTHY), prometheus.url)
    assert latency.value is not None and 0.025 <= latency.value <= 0.05
    assert judge(gate("latency-p99"), latency)[0] == GateDecision.PASS


async def test_raised_error_ratio_fails(
    source: PrometheusSource, prometheus: PrometheusServer, traffic: TrafficSimulator
) -> None:
    error_ratio = gate("error-ratio", window="5s")
    traffic.set(SERVICE, REGION.name, DEGRADING, error_ratio=0.05)

    # Once the window holds only post-change samples the ratio is exactly the simulated one.
    measurement = await eventually(
        lambda: source.measure(error_ratio, REGION, variables(DEGRADING, "5s"), prometheus.url),
        lambda m: m.value is not None and abs(m.value - 0.05) < 0.002,
    )

    assert measurement.value == pytest.approx(0.05, abs=0.002)
    decision, reason = judge(error_ratio, measurement)
    assert decision == GateDecision.FAIL
    assert "breaches" in reason


async def test_latency_p99_breach_fails(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    latency = gate("latency-p99")
    measurement = await source.measure(latency, REGION, variables(SLOW), prometheus.url)

    # Every request takes 0.8 s: histogram_quantile interpolates inside the (0.75, 1] bucket.
    assert measurement.value is not None and 0.75 < measurement.value <= 1.0
    assert measurement.samples is not None and measurement.samples > MIN_SAMPLES
    assert judge(latency, measurement)[0] == GateDecision.FAIL


async def test_version_without_traffic_holds(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    error_ratio = gate("error-ratio")
    measurement = await source.measure(error_ratio, REGION, variables(UNSERVED), prometheus.url)

    assert measurement.error is None
    assert measurement.value is None
    assert measurement.samples is None
    decision, reason = judge(error_ratio, measurement)
    assert decision == GateDecision.HOLD
    assert "no series" in reason


async def test_stopped_traffic_is_doubtful_and_holds(
    source: PrometheusSource, prometheus: PrometheusServer, traffic: TrafficSimulator
) -> None:
    error_ratio = gate("error-ratio", window="5s")
    traffic.stop_traffic(SERVICE, REGION.name, STOPPING)

    # Flat counters: 0 / 0 is NaN, which the source refuses as doubtful data.
    measurement = await eventually(
        lambda: source.measure(error_ratio, REGION, variables(STOPPING, "5s"), prometheus.url),
        lambda m: m.error is not None,
    )

    assert measurement.error is not None and "NaN" in measurement.error
    assert judge(error_ratio, measurement)[0] == GateDecision.HOLD


async def test_several_series_is_an_error(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    by_code = gate(
        "error-ratio",
        query='sum by (code) (rate(http_requests_total{service="{service}",version="{version}"}[{window}]))',
    )
    measurement = await source.measure(by_code, REGION, variables(HEALTHY), prometheus.url)

    assert measurement.error == "query returned 2 series; aggregate it to one"
    assert judge(by_code, measurement)[0] == GateDecision.HOLD


async def test_check_query(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    valid = render_query(ERROR_RATIO_QUERY, variables(HEALTHY))
    assert await source.check_query(valid, prometheus.url) is None

    problem = await source.check_query("sum(rate(http_requests_total[5m]", prometheus.url)
    assert problem is not None and "parse error" in problem
    assert problem.startswith("1:")  # the 'invalid parameter "query": ' prefix is dropped


async def test_prometheus_down_holds_then_recovers(source: PrometheusSource, prometheus: PrometheusServer) -> None:
    error_ratio = gate("error-ratio")
    prometheus.stop()
    try:
        down = await source.measure(error_ratio, REGION, variables(HEALTHY), prometheus.url)
        assert down.error is not None and "cannot connect" in down.error
        assert down.value is None
        decision, reason = judge(error_ratio, down)
        assert decision == GateDecision.HOLD
        assert "cannot connect" in reason
    finally:
        await asyncio.to_thread(prometheus.start)

    # Same port and data directory: the window spans the outage and measurements work again.
    back = await eventually(
        lambda: source.measure(error_ratio, REGION, variables(HEALTHY), prometheus.url),
        lambda m: m.error is None and m.samples is not None and m.samples >= MIN_SAMPLES,
    )
    assert back.error is None
    assert back.value == pytest.approx(0.0, abs=1e-9)
    assert judge(error_ratio, back)[0] == GateDecision.PASS


# -- parsing edge cases with httpx.MockTransport ------------------------------

URL = "http://prometheus.test:9090"
Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


def answer(result_type: str, result: Any, status: int = 200) -> httpx.Response:
    """A successful query response."""
    return httpx.Response(status, json={"status": "success", "data": {"resultType": result_type, "result": result}})


def sample(value: str, **labels: str) -> dict[str, Any]:
    """One vector element."""
    return {"metric": labels, "value": [1700000000.0, value]}


def mocked(handler: Handler, timeout: float = 0.5) -> PrometheusSource:
    """A source whose every request goes to ``handler``."""
    return PrometheusSource(timeout=timeout, transport=httpx.MockTransport(handler))


def by_query(main: httpx.Response, samples: httpx.Response) -> Handler:
    """Answer the gate query with ``main`` and the samples query with ``samples``."""

    async def handle(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        return samples if query.startswith("sum(increase(") else main

    return handle


async def measure_with(handler: Handler, **gate_overrides: Any) -> Measurement:
    """Measure the error-ratio gate through ``handler``."""
    async with mocked(handler) as src:
        return await src.measure(gate("error-ratio", **gate_overrides), REGION, variables(HEALTHY), URL)


async def test_scalar_and_single_sample() -> None:
    measurement = await measure_with(by_query(answer("scalar", [1.0, "0.0004"]), answer("vector", [sample("512")])))
    assert (measurement.value, measurement.samples, measurement.error) == (0.0004, 512.0, None)


async def test_empty_vector_is_missing_data() -> None:
    measurement = await measure_with(by_query(answer("vector", []), answer("vector", [])))
    assert (measurement.value, measurement.samples, measurement.error) == (None, None, None)


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf"])
async def test_nan_and_inf_are_doubtful(value: str) -> None:
    measurement = await measure_with(by_query(answer("vector", [sample(value)]), answer("vector", [sample("512")])))
    assert measurement.value is None
    assert measurement.error is not None and "doubtful data" in measurement.error
    assert judge(gate("error-ratio"), measurement)[0] == GateDecision.HOLD


async def test_several_series_in_samples_query() -> None:
    samples = answer("vector", [sample("1", code="200"), sample("2", code="500"), sample("3", code="503")])
    measurement = await measure_with(by_query(answer("scalar", [1.0, "0"]), samples))
    assert measurement.error == "samples_query returned 3 series; aggregate it to one"


async def test_status_error_carries_prometheus_message() -> None:
    error = httpx.Response(
        422, json={"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"}
    )
    measurement = await measure_with(by_query(error, answer("vector", [sample("512")])))
    assert measurement.error == "query failed: Prometheus execution: many-to-many matching not allowed"
    assert measurement.value is None


async def test_http_error_without_json() -> None:
    measurement = await measure_with(by_query(httpx.Response(503, text="upstream unavailable"), answer("vector", [])))
    assert measurement.error is not None
    assert "HTTP 503" in measurement.error and "upstream unavailable" in measurement.error


async def test_range_vector_is_an_error() -> None:
    measurement = await measure_with(by_query(answer("matrix", []), answer("vector", [])))
    assert measurement.error is not None and "matrix" in measurement.error


async def test_timeout_is_reported_not_raised() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    measurement = await measure_with(slow)
    assert measurement.error is not None
    assert "query failed: timed out after 0.5s" in measurement.error
    assert "samples_query failed: timed out after 0.5s" in measurement.error
    assert judge(gate("error-ratio"), measurement)[0] == GateDecision.HOLD


async def test_queries_are_sent_concurrently_with_a_server_timeout() -> None:
    arrived: list[dict[str, str]] = []
    both = asyncio.Event()

    async def barrier(request: httpx.Request) -> httpx.Response:
        arrived.append(dict(httpx.QueryParams(request.content.decode())))
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=2)  # a sequential source would stall here
        return answer("vector", [sample("1")])

    measurement = await measure_with(barrier)
    assert measurement.error is None
    assert {a["timeout"] for a in arrived} == {"500ms"}
    assert len({a["query"] for a in arrived}) == 2


async def test_one_client_per_base_url() -> None:
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return answer("scalar", [1.0, "0"])

    src = mocked(handle)
    error_ratio = gate("error-ratio")
    await src.measure(error_ratio, REGION, variables(HEALTHY), URL)
    await src.measure(error_ratio, REGION, variables(HEALTHY), URL + "/")
    await src.measure(error_ratio, REGION, variables(HEALTHY), "http://other.test/prom")
    assert len(src._clients) == 2
    assert "http://other.test/prom/api/v1/query" in seen
    await src.aclose()
    assert src._clients == {}


async def test_check_query_falls_back_to_format_query() -> None:
    paths: list[str] = []

    async def old_prometheus(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/api/v1/parse_query":
            return httpx.Response(404, text="404 page not found")
        body = {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:5: parse error: x'}
        return httpx.Response(400, content=json.dumps(body))

    async with mocked(old_prometheus) as src:
        assert await src.check_query("sum(", URL) == "1:5: parse error: x"
        assert await src.check_query("sum(", URL) == "1:5: parse error: x"
    assert paths == ["/api/v1/parse_query", "/api/v1/format_query", "/api/v1/format_query"]


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PrometheusSource(timeout=0)
    assert math.isclose(PrometheusSource().timeout, 10.0)


async def test_override_url_is_queried_for_every_region() -> None:
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path}")
        return answer("scalar", [1.0, "0"])

    _, made = make_providers("sandbox", "prometheus", prometheus_url="http://thanos.test:10902")
    assert isinstance(made, PrometheusSource) and made.url == "http://thanos.test:10902"
    async with PrometheusSource(transport=httpx.MockTransport(handle), url="http://thanos.test:10902") as src:
        for plan_url in (URL, "http://prometheus.staging.internal:9090"):
            assert (await src.measure(gate("error-ratio"), REGION, variables(HEALTHY), plan_url)).error is None
        assert await src.check_query("up", URL) is None
        assert len(src._clients) == 1
    assert seen == ["thanos.test/api/v1/query"] * 4 + ["thanos.test/api/v1/parse_query"]
    with pytest.raises(ValueError, match="http://"):
        PrometheusSource(url="thanos.test:10902")
