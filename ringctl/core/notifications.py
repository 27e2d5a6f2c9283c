"""The plan's ``notifications:`` block: Slack-compatible webhooks and the release events each receives.

Pure data and a pure selector (:func:`notifications_for`), so the workflow may use
both; posting is the ``notify`` activity's job (:mod:`ringctl.activities.notify`).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ringctl.core.planchecks import ConfigModel


class NotificationEvent(StrEnum):
    """What happened to a release; a webhook subscribes to some of these."""

    STARTED = "started"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_WINDOW = "awaiting_window"
    RING_PROMOTED = "ring_promoted"
    GATE_FAILED = "gate_failed"
    EVIDENCE = "evidence"
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"


class _Config(ConfigModel):
    """Base of the notification config, as of every plan model: immutable; unknown fields are errors,
    except in a stored payload (see :mod:`ringctl.core.planchecks`)."""


class Webhook(_Config):
    """One incoming webhook and the events it receives.

    The URL is a secret (whoever has it can post to the channel). Give it by
    reference: ``url_env`` names an environment variable of the worker,
    ``url_file`` a file on the worker (a mounted Kubernetes Secret); the worker
    reads it when it posts, so it is in no plan file, payload or workflow history.
    ``url`` (inline) still works, but travels in every release's history. It is
    left out of ``repr`` and never logged in full. ``name`` identifies the webhook in logs.
    """

    url: str | None = Field(default=None, repr=False)
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    url_file: str | None = Field(default=None, pattern=r"^/")
    events: list[NotificationEvent] = Field(default_factory=lambda: list(NotificationEvent), min_length=1)
    name: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook_url(value)

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        given = [key for key in ("url", "url_env", "url_file") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, url_env or url_file (got {', '.join(given) or 'none'})")
        return self


def check_webhook_url(value: str) -> str:
    """``value`` if it is an http(s) URL with a host and no whitespace; the message names the problem, never the URL."""
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        raise ValueError("must be an http or https URL") from None
    if parts.scheme not in ("http", "https"):
        scheme = repr(parts.scheme) if parts.scheme else "none"
        raise ValueError(f"must be an http or https URL (scheme {scheme})")
    if not hostname:
        raise ValueError("must be an http or https URL with a host")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


class Notifications(_Config):
    """The plan's ``notifications:`` block."""

    webhooks: list[Webhook] = []


def notifications_for(config: Notifications, event: NotificationEvent | str) -> list[Webhook]:
    """The webhooks of ``config`` subscribed to ``event``, in config order.

    Pure and deterministic: the workflow may call it. An unknown event name raises ``ValueError``.
    """
    wanted = NotificationEvent(event)
    return [webhook for webhook in config.webhooks if wanted in webhook.events]
