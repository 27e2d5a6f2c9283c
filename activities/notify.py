"""Release notifications: Slack-compatible incoming webhooks, posted by the ``notify`` activity.

The plan's :class:`Notifications` block lists :class:`Webhook` s, each subscribed
to some :class:`NotificationEvent` s (all by default); the workflow picks the
subscribers of an event with :func:`notifications_for` and starts one ``notify``
activity per webhook. :meth:`NotifyActivities.notify` POSTs Slack's
incoming-webhook JSON (``text`` plus ``blocks``) with a plain ``ringctl`` object
beside it for receivers that are not Slack (see :func:`build_payload`).

Failures are ringctl errors, mapped at the activity boundary
(:func:`~ringctl.activities.boundary.translated`): a 4xx other than 408/429 is a
non-retryable :class:`~ringctl.core.errors.WebhookRejected` (the URL or the payload
is wrong, retrying cannot help); any other non-2xx answer is a retryable
:class:`~ringctl.core.errors.WebhookFailed`, a timeout or a network error a
retryable :class:`~ringctl.core.errors.WebhookUnreachable`. A webhook URL is a
credential: it is never logged in full, only as host plus a short hash (:func:`redact_url`) - including httpx's own
``HTTP Request: POST <url>`` log line, which a filter on the ``httpx`` logger
rewrites for every URL this module has posted to.

The configuration (:class:`~ringctl.core.notifications.Notifications`) is part of
the plan, in :mod:`ringctl.core.notifications`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict
from temporalio import activity

from ringctl.activities.boundary import translated
from ringctl.core.errors import WebhookFailed, WebhookRejected, WebhookUnreachable, WebhookUnresolved
from ringctl.core.notifications import NotificationEvent, Webhook, check_webhook_url

log = structlog.get_logger(__name__)

#: Seconds one POST may take (connect, send, wait for the answer), client side.
DEFAULT_TIMEOUT = 10.0

#: Characters of a failed answer's body kept in the error message.
BODY_EXCERPT = 200

#: Longest ``Retry-After`` (429/503) honoured as the next retry delay.
MAX_RETRY_AFTER = timedelta(minutes=1)

#: Slack's limit for a section or context text; longer texts are cut.
SLACK_TEXT_LIMIT = 3000

#: 4xx answers that are worth retrying: request timeout, rate limited.
_RETRYABLE_4XX = frozenset({408, 429})


#: The emoji a message starts with, per event (Slack short codes).
EMOJI: dict[NotificationEvent, str] = {
    NotificationEvent.STARTED: ":rocket:",
    NotificationEvent.AWAITING_APPROVAL: ":raised_hand:",
    NotificationEvent.AWAITING_WINDOW: ":hourglass_flowing_sand:",
    NotificationEvent.RING_PROMOTED: ":white_check_mark:",
    NotificationEvent.GATE_FAILED: ":x:",
    NotificationEvent.EVIDENCE: ":bar_chart:",
    NotificationEvent.HALTED: ":octagonal_sign:",
    NotificationEvent.ROLLED_BACK: ":rewind:",
    NotificationEvent.COMPLETED: ":tada:",
    NotificationEvent.ABORTED: ":no_entry_sign:",
    NotificationEvent.FAILED: ":rotating_light:",
}


class NotifyInput(BaseModel):
    """Post one event to one webhook; ``text`` is the finished sentence, e.g. ``checkout@1.4.2 started by ci``.

    Unknown fields are ignored, as in :class:`ringctl.activities.models.Message`, so old
    and new workers interoperate.
    """

    model_config = ConfigDict(frozen=True)

    webhook: Webhook
    event: NotificationEvent
    release_id: str
    service: str
    version: str
    ring: str | None
    text: str
    at: datetime
    actor: str | None
    metadata: dict[str, str] = {}


def redact_url(url: str) -> str:
    """``host#hash`` for logs: enough to tell webhooks apart, useless for posting (8 hex digits of SHA-256)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        host = "?"
    return f"{host}#{digest}"


def build_payload(request: NotifyInput) -> dict[str, Any]:
    """The JSON body for ``request``: Slack's ``text`` and ``blocks``, plus a plain ``ringctl`` object.

    Slack fields escape ``&``, ``<`` and ``>`` (a gate reason like ``0.05 > 0.01``
    would otherwise be read as a link); the ``ringctl`` object carries the raw values.
    """
    at = request.at if request.at.tzinfo else request.at.replace(tzinfo=UTC)
    headline = f"{EMOJI[request.event]} {_slack_escape(request.text)}"
    context = [f"release `{_slack_escape(request.release_id)}`"]
    if request.ring is not None:
        context.append(f"ring `{_slack_escape(request.ring)}`")
    if request.actor is not None:
        context.append(f"by {_slack_escape(request.actor)}")
    context += [f"{key} {_slack_escape(value)}" for key, value in request.metadata.items()]
    context.append(at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(headline)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(" · ".join(context))}]},
        ],
        "ringctl": {
            "event": str(request.event),
            "release_id": request.release_id,
            "service": request.service,
            "version": request.version,
            "ring": request.ring,
            "at": at.isoformat(),
            "actor": request.actor,
            "text": request.text,
            "metadata": request.metadata,
        },
    }


class NotifyActivities:
    """The ``notify`` activity, with one ``httpx.AsyncClient`` shared by every call."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Use ``client`` (the caller closes it), or create one on first use with ``timeout`` seconds per POST."""
        if timeout <= 0:
            raise ValueError(f"timeout must be greater than 0, got {timeout:g}s")
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a redirected webhook is a configuration problem, and following
            # one would send the payload somewhere the plan does not name.
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        """Close the client this object created (a client passed in is left to its owner)."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    @activity.defn
    @translated
    async def notify(self, request: NotifyInput) -> None:
        """POST ``request`` to its webhook.

        Raises (as Temporal sees it, a retryable ``ApplicationError``) :class:`WebhookFailed`
        for a 5xx/408/429/3xx answer (``next_retry_delay`` follows ``Retry-After`` when given)
        and :class:`WebhookUnreachable` for a timeout or a network error; (non-retryable)
        :class:`WebhookRejected` for any other 4xx.
        """
        url = webhook_url(request.webhook)
        target = redact_url(url)
        _redactor.protect(url)
        bound = log.bind(event=str(request.event), webhook=request.webhook.name, target=target)
        try:
            response = await self._http().post(url, json=build_payload(request))
        except httpx.HTTPError as exc:
            reason = _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), url, target)
            bound.warning("notify.unreachable", error=reason)
            raise WebhookUnreachable(f"webhook {_label(request, target)} unreachable: {reason}") from exc
        status = response.status_code
        if response.is_success:
            bound.info("notify.sent", status=status)
            return
        excerpt = _scrub(response.text[:BODY_EXCERPT].strip(), url, target)
        message = f"webhook {_label(request, target)} answered HTTP {status}: {excerpt or response.reason_phrase}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            bound.error("notify.rejected", status=status, body=excerpt)
            raise WebhookRejected(message, status, excerpt)
        bound.warning("notify.failed", status=status, body=excerpt)
        raise WebhookFailed(message, status, excerpt, next_retry_delay=_retry_after(response))


def webhook_url(webhook: Webhook) -> str:
    """The webhook's URL: inline, or read now from the worker's environment or file it names.

    Raises :class:`WebhookUnresolved` (this message is not retried; the next one reads it again)
    naming the variable or file, never the URL.
    """
    label = f"webhook {webhook.name!r}" if webhook.name else "webhook"
    if webhook.url is not None:
        return webhook.url
    if webhook.url_env is not None:
        where, value = f"${webhook.url_env}", os.environ.get(webhook.url_env)
        if value is None:
            raise WebhookUnresolved(f"{label}: environment variable {webhook.url_env} is not set on this worker")
    else:
        where = str(webhook.url_file)
        try:
            value = Path(where).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WebhookUnresolved(f"{label}: cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return check_webhook_url(value.strip())
    except ValueError as exc:
        raise WebhookUnresolved(f"{label}: {where} {exc}") from None


def _label(request: NotifyInput, target: str) -> str:
    return f"{request.webhook.name!r} ({target})" if request.webhook.name else target


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrub(text: str, url: str, target: str) -> str:
    """``text`` with the webhook URL (as given and as httpx normalises it) replaced by its redacted form."""
    for form in {url, str(httpx.URL(url))}:
        text = text.replace(form, target)
    return text


def _retry_after(response: httpx.Response) -> timedelta | None:
    """``Retry-After`` in seconds (the HTTP-date form is ignored), capped at :data:`MAX_RETRY_AFTER`."""
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)


class _UrlRedactor(logging.Filter):
    """Rewrites webhook URLs in records of the ``httpx`` logger (``HTTP Request: POST <url> ...`` at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: dict[str, str] = {}

    def protect(self, url: str) -> None:
        """Redact ``url`` from now on; installs the filter on first use."""
        if url in self._secrets:
            return
        target = redact_url(url)
        self._secrets[url] = target
        self._secrets[str(httpx.URL(url))] = target
        httpx_logger = logging.getLogger("httpx")
        if self not in httpx_logger.filters:
            httpx_logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._redact(arg) for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = self._redact(record.msg)
        return True

    def _redact(self, value: object) -> object:
        if not isinstance(value, (str, httpx.URL)):
            return value
        text = str(value)
        if isinstance(value, httpx.URL):
            return self._secrets.get(text, value)
        for secret, target in self._secrets.items():
            if secret in text:
                text = text.replace(secret, target)
        return text


_redactor = _UrlRedactor()
