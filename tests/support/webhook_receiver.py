"""A real HTTP webhook receiver for tests: records the JSON it is sent, and can be told to fail.

:class:`WebhookReceiver` runs the standard library's ``ThreadingHTTPServer`` in a
thread on 127.0.0.1 and a free port. Every POST is recorded, in order, with its
path, headers and parsed JSON body (``None`` when it is not JSON) - failed
answers too, so a test can count attempts. By default it answers 200 ``ok`` like
Slack; :meth:`~WebhookReceiver.fail` makes it answer another status (for the
next ``times`` requests, or until :meth:`~WebhookReceiver.succeed`), and
:meth:`~WebhookReceiver.hang` makes it hold requests without answering until
:meth:`~WebhookReceiver.succeed` or :meth:`~WebhookReceiver.close`.

    with WebhookReceiver() as receiver:
        ... post to receiver.url ...
        bodies = receiver.wait_for(1, timeout=5)

``url`` has a secret-looking path (``/services/T0/B0/<random token>``) so tests
can check that it never reaches a log.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it; ``status`` is what it answered (``None``: it was held, see :meth:`WebhookReceiver.hang`)."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int | None


class WebhookReceiver:
    """A webhook endpoint on 127.0.0.1 recording every POST; a context manager."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or f"/services/T0/B0/{secrets.token_hex(12)}"
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._status = 200
        self._body = "ok"
        self._headers: dict[str, str] = {}
        self._times: int | None = None
        self._hanging = False
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 and serve in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                receiver._handle(self, raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Release held requests, stop serving and free the port."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # where and what

    @property
    def port(self) -> int:
        """The port the receiver listens on."""
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The webhook URL: ``http://127.0.0.1:<port>/services/T0/B0/<token>``."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def received(self) -> list[Received]:
        """Every request so far, in arrival order."""
        with self._changed:
            return list(self._received)

    @property
    def bodies(self) -> list[Any]:
        """The parsed JSON bodies so far, in arrival order."""
        return [r.body for r in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Block until at least ``count`` requests arrived; their bodies. ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"received {len(self._received)} of {count} webhook calls within {timeout:g}s")
                self._changed.wait(left)
            return [r.body for r in self._received]

    # behaviour

    def fail(
        self,
        status: int = 500,
        body: str = "internal_error",
        *,
        times: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with ``body`` - for the next ``times`` requests, or until :meth:`succeed`."""
        with self._changed:
            self._status, self._body, self._times = status, body, times
            self._headers = dict(headers or {})
            self._hanging = False

    def hang(self) -> None:
        """Hold every request without answering until :meth:`succeed` or :meth:`close`."""
        with self._changed:
            self._hanging = True
            self._release.clear()

    def succeed(self) -> None:
        """Answer 200 ``ok`` again, and let held requests go (they are answered 200)."""
        with self._changed:
            self._status, self._body, self._times, self._headers = 200, "ok", None, {}
            self._hanging = False
        self._release.set()

    # the handler's side

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._changed:
            hanging = self._hanging
            status, text, extra = self._status, self._body, self._headers
            if not hanging and self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._status, self._body, self._times, self._headers = 200, "ok", None, {}
            self._received.append(Received(handler.path, headers, raw, body, None if hanging else status))
            self._changed.notify_all()
        if hanging:
            self._release.wait()
            status, text, extra = 200, "ok", {}
        payload = text.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain; charset=utf-8")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout) before the answer
