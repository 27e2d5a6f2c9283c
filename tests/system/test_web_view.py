"""`ringctl serve` as its own process, read in headless Chromium while a release of the shipped plan runs.

What a person sees is read from the rendered page (``innerText`` through the DevTools
protocol, after the page's script ran), and the page is left open while the release
moves on, so the test sees it refresh itself. The screenshot is kept in
``tests/artifacts/`` for people to look at.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.browser import Browser
from tests.support.cli_runs import RINGCTL, ROOT
from tests.support.components import chromium
from tests.support.polling import wait_until
from tests.support.processes import free_port, ring_of
from tests.support.stack import Stack

#: As in test_operator_path: the shipped plan's waits 10,000 times faster.
SPEED = "10000"
#: Where the screenshots are kept (ignored by git).
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass
class View:
    """A ``ringctl serve`` process and its log."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        """What it wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, by its PID; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def get(url: str) -> tuple[int, bytes]:
    """An HTTP GET: its status code and body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def serve(directory: Path, address: str, host: str = "127.0.0.1") -> View:
    """Start ``ringctl serve --bind HOST:<free port>`` against Temporal at ``address``; wait until it answers."""
    port = free_port()
    log_path = directory / "serve.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [RINGCTL, "serve", "--bind", f"{host}:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEMPORAL_ADDRESS": address},
        )
    view = View(process, f"http://127.0.0.1:{port}", log_path)

    def answers() -> bool:
        try:
            return get(view.url + "/healthz")[0] == 200
        except OSError:
            return process.poll() is not None

    wait_until(answers, 20, "ringctl serve")
    assert process.poll() is None, view.log()
    return view


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless Chromium with one page."""
    started = Browser(chromium(), tmp_path / "chromium")
    yield started
    started.close()


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header; ``AssertionError`` if it is not a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_the_view_shows_every_release_and_a_release_pipeline_that_refreshes_itself(
    stack: Stack, browser: Browser
) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "13.0.0", "--speed", SPEED)
    view = serve(stack.directory, stack.server.address)
    try:
        browser.open(view.url + "/")
        wait_until(lambda: release in browser.text("main table"), 15, "the release in the table")
        status, body = get(view.url + "/api/releases")
        assert status == 200 and release in [row["release_id"] for row in json.loads(body)]
        assert png_size(browser.screenshot(ARTIFACTS / "web-view-releases.png")) == (1400, 900)

        status = stack.cli.wait_state(release, "awaiting_approval", timeout=90)
        assert status["current_ring"] == "japan"
        browser.evaluate(f"document.querySelector('a[href=\"/releases/{release}\"]').click()")
        wait_until(lambda: "awaiting_approval" in browser.text("h1"), 15, "the release page, awaiting approval")
        assert browser.text("h1").split() == [release, "awaiting_approval"]
        assert "approval of japan" in browser.text("dl")

        rings = [ring["name"] for ring in status["rings"]]
        assert rings[0] == "staging" and rings[-1] == "japan" and len(rings) >= 4
        assert browser.texts(".pipeline > li h2") == rings, "rings left to right in the plan's order"
        canary = ring_of(status, rings[1])
        region = canary["regions"][0]
        shown = browser.text(f'.pipeline > li[data-ring="{canary["name"]}"]')
        assert region["name"] in shown and region["state"] in shown
        assert browser.text('.pipeline > li[data-ring="japan"] .badge') == "awaiting_approval"

        result = canary["gate_results"][-1]  # a gate value, as the gate table shows it
        rows = [row.split("\t") for row in browser.texts("main table tbody tr")]
        value = "-" if result["value"] is None else f"{result['value']:.4g}"
        assert any(
            row[:5] == [canary["name"], result["gate"], result["slo"] or "-", result["region"], value]
            and row[7] == result["decision"]
            for row in rows
        ), rows

        png = browser.screenshot(ARTIFACTS / "web-view.png")
        assert png_size(png) == (1400, 900) and len(png) > 20_000, "a screenshot with something on it"

        first = browser.text("#as-of")
        wait_until(lambda: browser.text("#as-of") != first, 10, "the page to refresh itself")
        stack.cli.approve_japan(release)
        wait_until(
            lambda: browser.text("h1").split()[-1] != "awaiting_approval", 15, "the open page to show the approval"
        )
        assert "alice" in browser.text('.pipeline > li[data-ring="japan"]')
    finally:
        code = view.stop()
    assert code == 0, view.log()


def test_without_temporal_the_view_says_why_and_off_loopback_it_warns(tmp_path: Path) -> None:
    view = serve(tmp_path, f"127.0.0.1:{free_port()}", host="0.0.0.0")
    try:
        assert "warning: serving on 0.0.0.0, not loopback" in view.log()
        status, body = get(view.url + "/api/releases")
        assert status == 503 and "cannot connect to Temporal" in json.loads(body)["error"]
        status, body = get(view.url + "/releases/checkout@1.0.0")
        assert status == 503 and b'class="error"' in body and b"Traceback" not in body
    finally:
        code = view.stop()
    assert code == 0, view.log()
