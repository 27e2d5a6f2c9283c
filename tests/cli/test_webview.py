"""``ringctl serve`` in process: the pages' HTML and the routes, over a stand-in for Temporal.

The view against real Temporal, worker and browser is ``tests/system/test_web_view.py``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
import pytest

from ringctl.activities.models import GateDecision, GateResult
from ringctl.cli.serve_command import parse_bind
from ringctl.cli.webpage import release_page, releases_page, waiting_for
from ringctl.cli.webview import ReadFailed, ViewServer, is_loopback
from ringctl.workflows.models import RegionState, RegionStatus, ReleaseState, ReleaseStatus, RingState, RingStatus

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def _gate(region: str, value: float) -> GateResult:
    return GateResult(
        gate="availability",
        slo="availability",
        region=region,
        query="q",
        value=value,
        threshold=0.001,
        comparison="<=",
        samples=3000,
        decision=GateDecision.PASS,
        reason="within",
        evaluated_at=NOW,
    )


def _status(state: ReleaseState = ReleaseState.AWAITING_APPROVAL, reason: str = HOSTILE) -> ReleaseStatus:
    names = ["staging", "canary", "na-eu", "apac", "japan"]
    rings = [
        RingStatus(
            name=name,
            state=RingState.PROMOTED if name != "japan" else RingState.AWAITING_APPROVAL,
            regions=[
                RegionStatus(name=f"{name}-1", state=RegionState.PROMOTED if name != "japan" else RegionState.PENDING)
            ],
            gate_results=[_gate(f"{name}-1", 0.0009), _gate(f"{name}-1", 0.0004)] if name != "japan" else [],
            approval_required=name == "japan",
            waiting_until=NOW if state is ReleaseState.AWAITING_WINDOW and name == "japan" else None,
        )
        for name in names
    ]
    return ReleaseStatus(
        release_id="checkout@1.2.3",
        service="checkout",
        version="1.2.3",
        image="registry.example.com/checkout:1.2.3",
        state=state,
        current_ring="japan",
        reason=reason,
        started_by="ci",
        started_at=NOW,
        updated_at=NOW,
        rings=rings,
    )


def test_text_is_escaped_and_rings_run_left_to_right_in_plan_order() -> None:
    page = release_page("checkout@1.2.3", _status(), NOW)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert re.findall(r'<li class="ring[^"]*" data-ring="([^"]+)"', page) == [
        "staging",
        "canary",
        "na-eu",
        "apac",
        "japan",
    ]
    assert '<li class="ring current" data-ring="japan">' in page
    assert page.count("<td>availability</td><td>availability</td>") == 4, "one latest result per ring and region"
    assert "0.0004" in page and "0.0009" not in page


def test_the_current_wait_in_words() -> None:
    assert waiting_for(_status()) == "approval of japan (approved by: nobody yet)"
    assert waiting_for(_status(ReleaseState.AWAITING_WINDOW)) == (
        "the deployment window of japan, opening 2026-12-03 09:30:00 UTC"
    )
    assert waiting_for(_status(ReleaseState.COMPLETED)) == ""


def test_releases_table_escapes_and_links_each_release() -> None:
    rows = [{"release_id": f"x@{HOSTILE}", "state": "baking", "ring": None, "started_at": NOW.isoformat()}]
    page = releases_page(rows, NOW)
    assert "<script>alert" not in page and 'href="/releases/x@%3Cscript%3E' in page
    assert "2026-12-03 09:30:00" in page
    assert "Temporal is down" in releases_page(None, NOW, error="Temporal is down")


class _Source:
    """Stand-in for Temporal: answers with ``status`` or fails with ``failure``."""

    def __init__(self, failure: ReadFailed | None = None) -> None:
        self.failure = failure

    def releases(self) -> list[dict[str, Any]]:
        if self.failure:
            raise self.failure
        return [{"release_id": "checkout@1.2.3", "state": "awaiting_approval"}]

    def status(self, release_id: str) -> ReleaseStatus:
        if self.failure:
            raise self.failure
        return _status()


@pytest.fixture
def source() -> _Source:
    return _Source()


@pytest.fixture
def url(source: _Source) -> Iterator[str]:
    server = ViewServer(("127.0.0.1", 0), source)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_routes_answer_with_pages_json_and_health(url: str) -> None:
    code, headers, body = _get(url + "/releases/checkout@1.2.3")
    assert code == 200 and "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert b"checkout@1.2.3" in body
    code, _, body = _get(url + "/api/releases/checkout@1.2.3")
    assert code == 200 and json.loads(body)["rings"][0]["name"] == "staging"
    assert _get(url + "/api/releases")[0] == 200
    assert _get(url + "/healthz")[2] == b"ok\n"
    assert _get(url + "/nowhere")[0] == 404


def test_read_only_and_loopback_names_only(url: str) -> None:
    assert _get(url + "/", method="POST")[0] == 501
    assert _get(url + "/", host="attacker.example:8080")[0] == 403  # a DNS-rebinding page
    assert _get(url + "/", host="localhost:8080")[0] == 200


@pytest.mark.parametrize("code", [503, 404])
def test_a_failed_read_is_a_page_and_json_error_never_a_traceback(url: str, source: _Source, code: int) -> None:
    source.failure = ReadFailed(code, "Temporal did not answer: <deadline>")
    status, _, body = _get(url + "/api/releases/checkout@1.2.3")
    assert (status, json.loads(body)) == (code, {"error": "Temporal did not answer: <deadline>"})
    status, _, body = _get(url + "/")
    assert status == code and b"Temporal did not answer: &lt;deadline&gt;" in body and b"Traceback" not in body


def test_bind_address() -> None:
    assert parse_bind(None, None, "127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind(None, None, "[::1]:9000") == ("::1", 9000)
    for bad in ("8080", "host:", "host:99999", ":80"):
        with pytest.raises(click.BadParameter):
            parse_bind(None, None, bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")
