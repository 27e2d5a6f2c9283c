"""The production :class:`~ringctl.providers.interfaces.MetricsSource`: instant PromQL queries over HTTP.

:class:`PrometheusSource` renders a gate's ``query`` and ``samples_query`` with
:func:`ringctl.core.query.render_query`, sends both at once to
``<url>/api/v1/query`` and reduces each answer to one number: a scalar, or a
vector of exactly one sample; an empty vector is missing data (``None``).
Everything else - several series, NaN or Inf, a Prometheus error, an HTTP
error, a timeout, a refused connection - becomes ``Measurement.error``, so the
shared :func:`~ringctl.activities.gates.judge` applies the gate's ``missing_data``
policy. One ``httpx.AsyncClient`` per Prometheus base URL is created on first
use and reused until :meth:`PrometheusSource.aclose`.

A source made with ``url=`` (``ringctl worker --prometheus-url``) sends every
query there, whatever URL the plan names for the region: for a worker outside
the plan's network, or one reading a central Thanos or Mimir.

:meth:`PrometheusSource.series` runs an alert query of the plan's ``alarms:``
and returns the label sets of the series it gives (each a firing alarm).
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from types import TracebackType
from typing import Any

import httpx
import structlog

from ringctl.core.errors import TransientError
from ringctl.core.plan import Gate, Region
from ringctl.core.query import render_query
from ringctl.providers.models import Measurement, Series

log = structlog.get_logger(__name__)

#: Seconds a query may take, client side; Prometheus is asked to give up at the same time.
DEFAULT_TIMEOUT = 10.0

#: Instant-query endpoint of the HTTP API.
QUERY_PATH = "/api/v1/query"

#: Endpoints that check a query, best first: parse-only ones (``parse_query`` in newer
#: releases, ``format_query`` since 2.38), then executing it as a last resort.
CHECK_PATHS = ("/api/v1/parse_query", "/api/v1/format_query", QUERY_PATH)

_PARAM_PREFIX = 'invalid parameter "query": '


class _QueryFailed(Exception):
    """One query could not be reduced to a value; the message goes into ``Measurement.error``."""


class PrometheusSource:
    """Measures gates with instant queries against Prometheus' HTTP API."""

    def __init__(
        self,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> None:
        """Create a source; ``timeout`` bounds each query, ``transport`` replaces the network (tests).

        ``url``, when given, is queried for every region instead of the URL each call names.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if seconds <= 0:
            raise ValueError(f"timeout must be greater than 0, got {seconds:g}s")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus URL must start with http:// or https://, got {url!r}")
        self._override = url
        self._timeout = seconds
        self._transport = transport
        self._headers = headers or {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._check_paths: dict[str, str] = {}

    @property
    def timeout(self) -> float:
        """Seconds each query may take."""
        return self._timeout

    @property
    def url(self) -> str | None:
        """The Prometheus every query goes to whatever the plan names, or ``None`` (the plan's URLs)."""
        return self._override

    async def measure(self, gate: Gate, region: Region, variables: dict[str, str], url: str) -> Measurement:
        """Measure ``gate`` in ``region`` at ``url`` (or the override); failures go into ``Measurement.error``."""
        url = self._override or url
        query = render_query(gate.query, variables)
        samples_query = render_query(gate.samples_query, variables) if gate.samples_query else None
        bound = log.bind(gate=gate.name, region=region.name, prometheus=url)

        async def outcome(what: str, promql: str | None) -> tuple[float | None, str | None]:
            if promql is None:
                return None, None
            try:
                return await self._instant(url, promql), None
            except _QueryFailed as exc:
                return None, f"{what} {exc}"

        (value, value_error), (samples, samples_error) = await asyncio.gather(
            outcome("query", query), outcome("samples_query", samples_query)
        )
        errors = [e for e in (value_error, samples_error) if e is not None]
        if errors:
            error = "; ".join(errors)
            bound.warning("prometheus.measure_failed", error=error, query=query)
            return Measurement(query=query, error=error)
        bound.debug("prometheus.measured", value=value, samples=samples)
        return Measurement(query=query, value=value, samples=samples)

    async def check_query(self, query: str, url: str) -> str | None:
        """Prometheus' parse error for ``query`` (already rendered), or ``None`` when it parses.

        Uses the first of :data:`CHECK_PATHS` the server has (Debian's 2.42 has
        ``format_query``, not ``parse_query``). Raises
        :class:`~ringctl.core.errors.TransientError` when Prometheus cannot be asked.
        The override URL, if any, replaces ``url``.
        """
        url = self._override or url
        key = _base(url)
        client = self._client(url)
        paths = [self._check_paths[key]] if key in self._check_paths else list(CHECK_PATHS)
        for path in paths:
            try:
                response = await client.post(path, data={"query": query})
            except httpx.HTTPError as exc:
                raise TransientError(f"cannot check query at {url}: {_describe(exc, self._timeout)}") from exc
            if response.status_code == httpx.codes.NOT_FOUND and path != QUERY_PATH:
                continue
            self._check_paths[key] = path
            body = _json_object(response)
            if body is None:
                raise TransientError(f"cannot check query at {url}: HTTP {response.status_code}: {_snippet(response)}")
            if body.get("status") == "success":
                return None
            if body.get("errorType") == "bad_data":
                message = str(body.get("error", "invalid query"))
                return message.removeprefix(_PARAM_PREFIX)
            # It parsed; evaluating it failed (only reachable through /api/v1/query).
            log.info("prometheus.check_query_evaluation_failed", prometheus=url, error=body.get("error"))
            return None
        raise TransientError(f"cannot check query at {url}: no query endpoint answered")  # pragma: no cover

    async def aclose(self) -> None:
        """Close every HTTP client; the source can still be used afterwards (new clients are made)."""
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(client.aclose() for client in clients.values()))

    async def __aenter__(self) -> PrometheusSource:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _client(self, url: str) -> httpx.AsyncClient:
        key = _base(url)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                base_url=key, timeout=self._timeout, transport=self._transport, headers=self._headers
            )
            self._clients[key] = client
        return client

    async def series(self, query: str, region: Region, url: str) -> Series:
        """The label sets of the series ``query`` returns at ``url`` (or the override); failures in ``Series.error``."""
        url = self._override or url
        try:
            data = await self._data(url, query)
        except _QueryFailed as exc:
            log.warning("prometheus.series_failed", region=region.name, prometheus=url, error=str(exc), query=query)
            return Series(query=query, error=f"query {exc}")
        result = data.get("result")
        if data.get("resultType") != "vector" or not isinstance(result, list):
            return Series(query=query, error=f"query returned a {data.get('resultType')}; it must give a vector")
        labels = [item.get("metric") for item in result if isinstance(item, dict)]
        series = [{str(key): str(value) for key, value in m.items()} for m in labels if isinstance(m, dict)]
        return Series(query=query, series=series)

    async def _instant(self, url: str, query: str) -> float | None:
        """One instant query reduced to a value; ``None`` for an empty vector; ``_QueryFailed`` otherwise."""
        return _reduce(await self._data(url, query))

    async def _data(self, url: str, query: str) -> dict[str, Any]:
        """The ``data`` block of one instant query; ``_QueryFailed`` when there is none."""
        client = self._client(url)
        params = {"query": query, "timeout": f"{int(self._timeout * 1000)}ms"}
        try:
            response = await client.post(QUERY_PATH, data=params)
        except httpx.HTTPError as exc:
            raise _QueryFailed(f"failed: {_describe(exc, self._timeout)} ({_base(url)})") from exc
        body = _json_object(response)
        if body is not None and body.get("status") == "error":
            raise _QueryFailed(f"failed: Prometheus {body.get('errorType', 'error')}: {body.get('error', '')}")
        if response.is_error:
            raise _QueryFailed(f"failed: HTTP {response.status_code} from {_base(url)}: {_snippet(response)}")
        if body is None or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise _QueryFailed(f"failed: unexpected response from {_base(url)}: {_snippet(response)}")
        if body.get("warnings"):
            log.warning("prometheus.query_warnings", query=query, warnings=body["warnings"])
        data: dict[str, Any] = body["data"]
        return data


def _reduce(data: dict[str, Any]) -> float | None:
    """The single value of a ``data`` block of an instant query."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return _finite(result)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return None
        if len(result) > 1:
            raise _QueryFailed(f"returned {len(result)} series; aggregate it to one")
        return _finite(result[0].get("value") if isinstance(result[0], dict) else None)
    raise _QueryFailed(f"returned a {kind}; it must give a scalar or a single-series instant vector")


def _finite(sample: object) -> float:
    """The value of a ``[timestamp, "value"]`` pair, refusing NaN and infinities as doubtful data."""
    try:
        value = float(sample[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError) as exc:
        raise _QueryFailed(f"returned a malformed sample: {sample!r}") from exc
    if not math.isfinite(value):
        raise _QueryFailed(f"returned {sample[1]} (doubtful data: no traffic, or a division by zero)")  # type: ignore[index]
    return value


def _base(url: str) -> str:
    return url.rstrip("/")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "") or response.reason_phrase


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


__all__ = ["CHECK_PATHS", "DEFAULT_TIMEOUT", "QUERY_PATH", "PrometheusSource"]
