"""Headless Chromium driven through the DevTools protocol on a pipe: what a person sees on a page, and screenshots.

``chromium --remote-debugging-pipe`` reads protocol messages on its fd 3 and writes
them on fd 4, each JSON message ended by a NUL byte: no WebSocket client, no
Playwright (whose browser download does not work here). One page per browser; the
page keeps running its own scripts between calls, so a test can watch it change.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

from tests.support.polling import wait_until

#: How long one protocol call may take.
CALL_TIMEOUT = 20.0
#: Moves the browser's stdin and stdout pipes to fds 3 and 4, where ``--remote-debugging-pipe`` talks.
_PIPE_FDS = 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null'


class Browser:
    """One headless Chromium process with one page (a tab) attached."""

    def __init__(self, binary: str, directory: Path, size: tuple[int, int] = (1400, 900)) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._log = open(directory / "chromium.log", "ab")  # noqa: SIM115  (the process owns it)
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", _PIPE_FDS, "sh", binary, "--headless", "--no-sandbox", "--remote-debugging-pipe"]
            + [f"--user-data-dir={directory / 'profile'}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars"]
            + ["--disable-gpu", "--no-first-run", "--disable-extensions", "about:blank"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call(
            "Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False
        )

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one protocol command (to the page, once attached) and return its result; ``AssertionError`` on error."""
        assert self.process.stdin is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        self.process.stdin.flush()
        while True:
            answer = self._receive()
            if answer.get("id") == self._next_id:  # anything else is an event
                assert "error" not in answer, f"{method}: {answer['error']}"
                result: dict[str, Any] = answer["result"]
                return result

    def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], CALL_TIMEOUT)
            chunk = os.read(fd, 1 << 20) if ready else b""
            assert chunk, f"chromium stopped answering (exit code {self.process.poll()})"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def open(self, url: str, timeout: float = 20) -> None:
        """Load ``url`` and wait until the page (with its scripts) has loaded."""
        self.call("Page.navigate", url=url)
        wait_until(
            lambda: self.evaluate("location.href") == url and self.evaluate("document.readyState") == "complete",
            timeout,
            f"{url} to load",
        )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, f"{expression}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def text(self, selector: str = "body") -> str:
        """What a person reads in the first element matching ``selector`` (its rendered text); empty if none."""
        return str(self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''"))

    def texts(self, selector: str) -> list[str]:
        """The rendered text of every element matching ``selector``, in document order."""
        return list(self.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.innerText)"))

    def screenshot(self, path: Path) -> bytes:
        """Save the visible page as a PNG at ``path``; its bytes."""
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def close(self) -> None:
        """Close the browser (by its PID if it does not close when asked)."""
        self._session = None
        with suppress(AssertionError, OSError):  # it may exit before it answers
            self.call("Browser.close")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
