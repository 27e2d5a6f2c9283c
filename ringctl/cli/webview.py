"""The HTTP side of ``ringctl serve``: read-only routes over the CLI's client calls.

Routes: ``/`` (every release), ``/releases/<release_id>`` (one release's pipeline),
``/api/releases`` and ``/api/releases/<release_id>`` (the same data as JSON, as
``ringctl list`` and ``ringctl status --output json`` print it), ``/healthz`` (the view
server itself, without Temporal). Only GET is served. A standard library
``ThreadingHTTPServer`` answers; its request threads read through one Temporal client
on one asyncio loop in a background thread (:class:`TemporalSource`). A read that fails
becomes a page or JSON error (503 when Temporal or a worker did not answer), never a
traceback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from temporalio.service import RPCError

from ringctl.cli.options import client_for
from ringctl.cli.webpage import CONTENT_SECURITY_POLICY, release_page, releases_page
from ringctl.client.errors import from_call_error
from ringctl.client.listing import list_releases
from ringctl.client.releases import get_status
from ringctl.core.errors import RingctlError, UnavailableError

if TYPE_CHECKING:
    from temporalio.client import Client

    from ringctl.client.connection import ConnectionOptions
    from ringctl.workflows.models import ReleaseStatus

#: How long a page waits for Temporal (a status query alone may take 5 s, and its diagnosis as long again).
READ_TIMEOUT = 15.0
#: Host names a loopback-bound view answers to: another name is a DNS-rebinding page reading it from a browser.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

T = TypeVar("T")
log = logging.getLogger(__name__)


class ReadFailed(Exception):
    """A read that found nothing to show: ``code`` is the HTTP status, ``message`` says why, for a person."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Source(Protocol):
    """Where the view reads releases (:class:`TemporalSource`; a stand-in in unit tests)."""

    def releases(self) -> list[dict[str, Any]]:
        """``list_releases`` rows, newest first."""
        ...

    def status(self, release_id: str) -> ReleaseStatus:
        """One release's status."""
        ...


class TemporalSource:
    """Reads with the CLI's calls through one Temporal client, on an event loop in a thread of its own.

    The client connects on the first read (and again after a failed connection), so the
    view starts, and says why it shows nothing, while Temporal is down.
    """

    def __init__(self, connection: ConnectionOptions, actor: str, timeout: float = READ_TIMEOUT) -> None:
        self._connection = connection
        self._actor = actor
        self._timeout = timeout
        self._client: Client | None = None
        self._connecting = asyncio.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="temporal-client", daemon=True)
        self._thread.start()

    def releases(self) -> list[dict[str, Any]]:
        """Every release, as ``ringctl list`` reads them."""
        return self._read(list_releases, refused=503)

    def status(self, release_id: str) -> ReleaseStatus:
        """The release's status, as ``ringctl status`` reads it; 404 when Temporal has no such release."""
        return self._read(lambda client: get_status(client, release_id), refused=404)

    def close(self) -> None:
        """Stop the event loop and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _with_client(self, read: Callable[[Client], Awaitable[T]]) -> T:
        async with self._connecting:
            if self._client is None:
                self._client = await client_for(self._connection, self._actor)
        return await read(self._client)

    def _read(self, read: Callable[[Client], Awaitable[T]], refused: int) -> T:
        """Run ``read`` on the loop; ringctl's errors as :class:`ReadFailed` (``refused``: a refusal's status)."""
        future = asyncio.run_coroutine_threadsafe(self._with_client(read), self._loop)
        try:
            return future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise ReadFailed(503, f"Temporal did not answer within {self._timeout:g} s") from None
        except UnavailableError as exc:
            raise ReadFailed(503, str(exc)) from None
        except RingctlError as exc:
            raise ReadFailed(refused, str(exc)) from None
        except RPCError as exc:
            raise ReadFailed(503, str(from_call_error(exc))) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ViewServer(ThreadingHTTPServer):
    """The web view's HTTP server: its :class:`Source`, and whether it answers loopback host names only."""

    def __init__(self, address: tuple[str, int], source: Source) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.source = source
        self.loopback_only = is_loopback(address[0])


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    server_version = "ringctl-serve"

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        try:
            self._route(urlsplit(self.path).path)
        except Exception:
            log.exception("ringctl serve: %s failed", self.path)
            self._send(500, "text/plain; charset=utf-8", b"internal error: see the server's log\n")

    def _route(self, path: str) -> None:
        if self.server.loopback_only and urlsplit(f"//{self.headers.get('Host', '')}").hostname not in LOOPBACK_NAMES:
            self._send(403, "text/plain; charset=utf-8", b"this view answers to localhost only\n")
        elif path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif path in ("/", "/api/releases"):
            self._releases(api=path != "/")
        elif path.startswith(("/releases/", "/api/releases/")) and path.split("/releases/", 1)[1]:
            self._release(unquote(path.split("/releases/", 1)[1]), api=path.startswith("/api/"))
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: see / for every release\n")

    def _releases(self, api: bool) -> None:
        now = datetime.now(UTC)
        try:
            rows = self.server.source.releases()
        except ReadFailed as exc:
            self._reply(api, exc.code, {"error": exc.message}, partial(releases_page, None, now, exc.message))
            return
        self._reply(api, 200, rows, partial(releases_page, rows, now))

    def _release(self, release_id: str, api: bool) -> None:
        now = datetime.now(UTC)
        try:
            status = self.server.source.status(release_id)
        except ReadFailed as exc:
            self._reply(
                api, exc.code, {"error": exc.message}, partial(release_page, release_id, None, now, exc.message)
            )
            return
        self._reply(api, 200, status.model_dump(mode="json"), partial(release_page, release_id, status, now))

    def _reply(self, api: bool, code: int, data: Any, page: Callable[[], str]) -> None:
        if api:
            self._send(code, "application/json", json.dumps(data, default=str).encode())
        else:
            self._send(code, "text/html; charset=utf-8", page().encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (http.server's name)
        log.debug("%s " + format, self.address_string(), *args)
