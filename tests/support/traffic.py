"""A deterministic traffic simulator: a Prometheus exporter for gate tests.

:class:`TrafficSimulator` serves ``http_requests_total{service,region,version,code}``
and the ``http_request_duration_seconds{service,region,version}`` histogram on
127.0.0.1 (a free port), the metrics the gates in ``rings.yaml`` query. Each
(service, region, version) series has a request rate, an error ratio and a
latency that a test changes at runtime; a background thread advances the
counters every ``tick`` seconds by exactly ``rps * elapsed`` requests, of which
``error_ratio`` are counted under ``code="500"`` and the rest under
``code="200"``. Both code series exist from the start, so an error-ratio query
yields 0 rather than no data for a healthy version.

    with TrafficSimulator() as sim:
        sim.set("checkout", "us-west-2", "1.2.0", rps=50, error_ratio=0.0, latency=0.05)
        ...  # scrape sim.target
        sim.set("checkout", "us-west-2", "1.2.0", error_ratio=0.05)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

#: Label values of one simulated series: (service, region, version).
SeriesKey = tuple[str, str, str]

#: Status code label of successful and failed requests.
OK_CODE = "200"
ERROR_CODE = "500"

#: How often the background thread advances the counters, in seconds.
DEFAULT_TICK = 0.1


@dataclass
class Traffic:
    """Current traffic of one series: requests per second, fraction failing, latency in seconds."""

    rps: float = 0.0
    error_ratio: float = 0.0
    latency: float = 0.05
    #: Fractional requests not yet observed in the histogram (it counts whole requests).
    carry: float = 0.0


class TrafficSimulator:
    """An HTTP exporter whose request counters advance at configurable, deterministic rates."""

    def __init__(self, *, tick: float = DEFAULT_TICK, host: str = "127.0.0.1", port: int = 0) -> None:
        """Create a stopped simulator; ``port=0`` picks a free port on :meth:`start`."""
        self._tick = tick
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._traffic: dict[SeriesKey, Traffic] = {}
        self._registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests",
            "HTTP requests served.",
            ["service", "region", "version", "code"],
            registry=self._registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ["service", "region", "version"],
            registry=self._registry,
        )
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> TrafficSimulator:
        """Serve metrics and start advancing counters; returns ``self``."""
        if self._server is not None:
            return self
        self._server, _ = start_http_server(self._port, addr=self._host, registry=self._registry)
        self._port = self._server.server_port
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="traffic-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the counters and the HTTP server (idempotent)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TrafficSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port metrics are served on (known after :meth:`start`)."""
        return self._port

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        return f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """The metrics URL."""
        return f"http://{self.target}/metrics"

    # -- traffic control ---------------------------------------------------

    def set(
        self,
        service: str,
        region: str,
        version: str,
        *,
        rps: float | None = None,
        error_ratio: float | None = None,
        latency: float | None = None,
    ) -> None:
        """Create or change one series' traffic; arguments left as ``None`` keep their value."""
        if error_ratio is not None and not 0.0 <= error_ratio <= 1.0:
            raise ValueError(f"error_ratio must be within [0, 1], got {error_ratio}")
        if rps is not None and rps < 0:
            raise ValueError(f"rps must be >= 0, got {rps}")
        if latency is not None and latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency}")
        key = (service, region, version)
        with self._lock:
            traffic = self._traffic.get(key)
            if traffic is None:
                traffic = self._traffic[key] = Traffic()
                # Materialise every series at 0 so queries see them before the first error.
                for code in (OK_CODE, ERROR_CODE):
                    self._requests.labels(service, region, version, code)
                self._duration.labels(service, region, version)
            if rps is not None:
                traffic.rps = rps
            if error_ratio is not None:
                traffic.error_ratio = error_ratio
            if latency is not None:
                traffic.latency = latency

    def stop_traffic(self, service: str, region: str, version: str) -> None:
        """Stop requests to one series; its counters stay exported, flat."""
        self.set(service, region, version, rps=0.0)

    def remove(self, service: str, region: str, version: str) -> None:
        """Stop exporting one series altogether, as when a version's pods are gone."""
        key = (service, region, version)
        with self._lock:
            if self._traffic.pop(key, None) is None:
                return
            for code in (OK_CODE, ERROR_CODE):
                self._requests.remove(service, region, version, code)
            self._duration.remove(service, region, version)

    def traffic(self, service: str, region: str, version: str) -> Traffic:
        """A copy of one series' current settings."""
        with self._lock:
            current = self._traffic[(service, region, version)]
            return Traffic(current.rps, current.error_ratio, current.latency, current.carry)

    # -- internals ---------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(self._tick):
            now = time.monotonic()
            self._advance(now - last)
            last = now

    def _advance(self, elapsed: float) -> None:
        with self._lock:
            for (service, region, version), traffic in self._traffic.items():
                requests = traffic.rps * elapsed
                if requests <= 0:
                    continue
                errors = requests * traffic.error_ratio
                self._requests.labels(service, region, version, ERROR_CODE).inc(errors)
                self._requests.labels(service, region, version, OK_CODE).inc(requests - errors)
                traffic.carry += requests
                whole = int(traffic.carry)
                traffic.carry -= whole
                histogram = self._duration.labels(service, region, version)
                for _ in range(whole):
                    histogram.observe(traffic.latency)


__all__ = ["DEFAULT_TICK", "ERROR_CODE", "OK_CODE", "SeriesKey", "Traffic", "TrafficSimulator"]
