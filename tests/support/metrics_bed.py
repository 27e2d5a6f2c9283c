"""The system tier's metrics: a real Prometheus scraping a traffic simulator the tests drive.

One :class:`MetricsBed` per session (the ``metrics_bed`` fixture): a
:class:`~tests.support.traffic.TrafficSimulator` serving
``http_requests_total{service,region,version,code}`` and the
``http_request_duration_seconds`` histogram, and Debian's Prometheus
(:class:`~tests.support.prometheus_server.PrometheusServer`) scraping it every
second. Workers read it with ``ringctl worker --metrics-source prometheus
--prometheus-url <bed.url>``, so the SHIPPED ``rings.yaml`` is evaluated as
written: its PromQL windows (5m, 10m, 30m, 1h, 6h, 28d) stay; ``release start
--speed`` shortens only bakes, intervals and rollout timeouts.

Why a few seconds of traffic are enough: Prometheus extrapolates ``increase``
and ``rate`` over the part of a range that has samples (a series that starts at
0 is extrapolated by at most half a scrape interval), so a 5m or 28d window over
``t`` seconds of traffic counts about ``rps * t`` requests. At
:data:`DEFAULT_RPS` the shipped ``min_samples`` (300; 50 in staging) are met
within about three seconds of traffic (:meth:`MetricsBed.wait_for_samples`).

What a test drives:

* :meth:`~MetricsBed.healthy`: a version serves good traffic (no errors, 50 ms)
  in some or all regions of the shipped plan. The version a deploy replaced
  needs traffic too: the ``no-regression`` gate compares with
  ``{previous_version}`` service-wide, and the error-budget gates read every
  version of the region over 28 days;
* :meth:`~MetricsBed.breach`: a version fails (``error_ratio``) or is slow
  (``latency``) in one region;
* :meth:`~MetricsBed.silence`: a version's series disappear from a region (no
  data at all), until :meth:`~MetricsBed.healthy` brings them back;
* :meth:`~MetricsBed.outage`: Prometheus is down for the block (its data is kept);
* :data:`PAGE_RULES`: an alerting rule shaped like Sloth's page alerts fires
  ``ErrorBudgetBurnPage`` for a service in a region while more than half of its
  requests (all versions, over 5 s) fail, so ``ALERTS{sloth_severity="page"}``
  series come and go with :meth:`~MetricsBed.breach` and :meth:`~MetricsBed.healthy`;
* :class:`SlowProxy`: a slow Prometheus, for a worker given the proxy's URL.

The bed is shared by the whole session and its windows are long (the budget's
is 28 days): errors a test injects stay in that service's and region's error
budget for the rest of the session. A test that breaches should use a
service (and region) no later test needs a clean budget in, and every test its
own versions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx
import pytest

from ringctl.core.planfile import load_plan
from tests.support.components import require
from tests.support.processes import SHIPPED_PLAN
from tests.support.prometheus_server import PrometheusServer, find_prometheus
from tests.support.traffic import TrafficSimulator

#: Every region of the shipped plan, in release order (staging first, Japan last).
ALL_REGIONS: tuple[str, ...] = tuple(region.name for ring in load_plan(SHIPPED_PLAN).stages for region in ring.regions)
#: Requests per second of each (service, region, version): 300 requests in three seconds.
DEFAULT_RPS = 100.0
#: Latency of healthy traffic, in seconds (the shipped p99 thresholds are 0.5 s and 0.4 s in Japan).
HEALTHY_LATENCY = 0.05
#: The largest ``min_samples`` of the shipped plan.
MIN_SAMPLES = 300.0
#: The bed's alerting rules: a page alert, labelled as Sloth labels them, per service and region failing badly.
PAGE_RULES = """groups:
  - name: ringctl-test-pages
    rules:
      - alert: ErrorBudgetBurnPage
        expr: >-
          sum by (service, region) (rate(http_requests_total{code=~"5.."}[5s]))
          / sum by (service, region) (rate(http_requests_total[5s])) > 0.5
        labels: {sloth_severity: page, sloth_slo: availability}
"""
#: What :meth:`MetricsBed.wait_for_samples` counts: the shipped samples query over its shortest window.
SAMPLES_QUERY = 'sum(increase(http_requests_total{{service="{service}",region="{region}",version="{version}"}}[5m]))'


@dataclass
class MetricsBed:
    """The simulator and the Prometheus scraping it, with the few verbs the system tests need."""

    traffic: TrafficSimulator
    prometheus: PrometheusServer
    #: Series the bed has created, so that :meth:`silence` and :meth:`healthy` know what exists.
    _series: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The Prometheus base URL to give workers (``--prometheus-url``)."""
        return self.prometheus.url

    def healthy(
        self, service: str, version: str, regions: Iterable[str] = ALL_REGIONS, *, rps: float = DEFAULT_RPS
    ) -> None:
        """``version`` serves ``rps`` good requests a second (no errors, 50 ms) in each of ``regions``."""
        for region in regions:
            self._set(service, region, version, rps=rps, error_ratio=0.0, latency=HEALTHY_LATENCY)

    def breach(
        self,
        service: str,
        region: str,
        version: str,
        *,
        error_ratio: float = 0.2,
        latency: float | None = None,
        rps: float | None = None,
    ) -> None:
        """``version`` misbehaves in ``region``: ``error_ratio`` of its requests fail (and, if given, are slow)."""
        if rps is None and (service, region, version) not in self._series:
            rps = DEFAULT_RPS
        self._set(service, region, version, rps=rps, error_ratio=error_ratio, latency=latency)

    def silence(self, service: str, version: str, regions: Iterable[str] = ALL_REGIONS) -> None:
        """``version``'s series disappear from ``regions`` (no pods, no scrape): its queries return no data."""
        for region in regions:
            key = (service, region, version)
            if key in self._series:
                self.traffic.remove(*key)
                self._series.discard(key)

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Prometheus is down inside the block; it comes back (same port, same data) when the block ends."""
        self.prometheus.stop()
        try:
            yield
        finally:
            self.prometheus.start()

    def samples(self, service: str, region: str, version: str) -> float:
        """Requests Prometheus counts for one series over the shipped 5m window (0 when it has none)."""
        query = SAMPLES_QUERY.format(service=service, region=region, version=version)
        response = httpx.post(f"{self.url}/api/v1/query", data={"query": query}, timeout=5)
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for_samples(
        self,
        service: str,
        versions: Iterable[str],
        regions: Iterable[str] = ALL_REGIONS,
        minimum: float = MIN_SAMPLES,
        timeout: float = 30.0,
    ) -> float:
        """Wait until Prometheus counts ``minimum`` requests of each version in each region; seconds waited."""
        began = time.monotonic()
        pending = [(service, region, version) for version in versions for region in regions]
        while pending:
            pending = [key for key in pending if self.samples(*key) < minimum]
            if not pending:
                break
            if time.monotonic() - began > timeout:
                raise AssertionError(f"Prometheus has fewer than {minimum:g} requests after {timeout:g} s: {pending}")
            time.sleep(0.25)
        return time.monotonic() - began

    def _set(
        self,
        service: str,
        region: str,
        version: str,
        *,
        rps: float | None,
        error_ratio: float,
        latency: float | None,
    ) -> None:
        self.traffic.set(service, region, version, rps=rps, error_ratio=error_ratio, latency=latency)
        self._series.add((service, region, version))


class SlowProxy:
    """A tiny HTTP proxy that forwards every request to ``upstream`` after sleeping ``delay`` seconds.

    ``delay`` can be changed at any time; :attr:`held` counts the requests
    being held back right now, so a test knows when a gate evaluation is stuck on it.
    """

    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        """Prepare a proxy for ``upstream`` (a base URL); :meth:`start` listens on a free loopback port."""
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self._held = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL, to give a worker as ``--prometheus-url``."""
        assert self._server is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def held(self) -> int:
        """Requests the proxy is holding back now (sleeping before they are forwarded)."""
        with self._lock:
            return self._held

    def start(self) -> SlowProxy:
        """Listen and serve in a background thread; returns ``self``."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._forward(self)

            def do_POST(self) -> None:
                proxy._forward(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slow-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Release held requests and stop listening (idempotent)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlowProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        delay = self.delay
        if delay > 0:
            with self._lock:
                self._held += 1
            try:
                self._stopping.wait(delay)
            finally:
                with self._lock:
                    self._held -= 1
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "accept")}
        try:
            answer = httpx.request(handler.command, self.upstream + handler.path, content=body, headers=headers)
            status, content, kind = answer.status_code, answer.content, answer.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            status, content, kind = 502, f"upstream: {exc}".encode(), "text/plain"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
        except OSError:
            pass  # the client gave up (its query was cancelled)


@pytest.fixture(scope="session")
def metrics_bed() -> Iterator[MetricsBed]:
    """The session's traffic simulator and real Prometheus (1 s scrapes); a missing binary fails in CI."""
    binary = find_prometheus()
    require(binary is not None, "prometheus binary not found (apt-get install prometheus, or set PROMETHEUS_BINARY)")
    with TrafficSimulator() as sim, PrometheusServer([sim.target], binary=binary, rules=PAGE_RULES) as prom:
        yield MetricsBed(sim, prom)


__all__ = [
    "ALL_REGIONS",
    "DEFAULT_RPS",
    "HEALTHY_LATENCY",
    "MIN_SAMPLES",
    "PAGE_RULES",
    "MetricsBed",
    "SlowProxy",
    "metrics_bed",
]
