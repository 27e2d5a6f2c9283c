"""Webhook notifications: the ``notify`` activity against a real HTTP receiver, and the config model.

The activity runs in ``ActivityEnvironment`` and posts over real HTTP to
:class:`~tests.support.webhook_receiver.WebhookReceiver`; two tests at the end
run it on a worker of the session's dev server, with the retry policy the
workflow is meant to use, so retries and non-retryable failures are seen end to end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from ringctl.activities.notify import EMOJI, NotifyActivities, NotifyInput, build_payload, redact_url, webhook_url
from ringctl.core.errors import WebhookUnresolved
from ringctl.core.notifications import NotificationEvent, Notifications, Webhook, notifications_for
from tests.support.prometheus_server import free_port
from tests.support.webhook_receiver import WebhookReceiver

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def notice(url: str, event: NotificationEvent = NotificationEvent.STARTED, **overrides: object) -> NotifyInput:
    fields: dict[str, object] = {
        "webhook": Webhook(url=url, name="deploys"),
        "event": event,
        "release_id": "checkout-1.4.2-abc123",
        "service": "checkout",
        "version": "1.4.2",
        "ring": None,
        "text": "checkout@1.4.2 started by ci-pipeline",
        "at": AT,
        "actor": "ci-pipeline",
    }
    fields.update(overrides)
    return NotifyInput.model_validate(fields)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def activities() -> AsyncIterator[NotifyActivities]:
    acts = NotifyActivities(timeout=5)
    yield acts
    await acts.aclose()


async def run(acts: NotifyActivities, request: NotifyInput) -> None:
    await ActivityEnvironment().run(acts.notify, request)


async def failure(acts: NotifyActivities, request: NotifyInput) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await run(acts, request)
    return info.value


# --- posting ---------------------------------------------------------------------------------------------


async def test_posts_slack_json_with_a_ringctl_object(receiver: WebhookReceiver, activities: NotifyActivities) -> None:
    await run(activities, notice(receiver.url, ring="canary"))

    [got] = receiver.received
    assert got.path == receiver.path
    assert got.headers["content-type"] == "application/json"
    assert got.body == {
        "text": ":rocket: checkout@1.4.2 started by ci-pipeline",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": ":rocket: checkout@1.4.2 started by ci-pipeline"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "release `checkout-1.4.2-abc123` · ring `canary` · by ci-pipeline · 2024-05-06 07:08:09 UTC",
                    }
                ],
            },
        ],
        "ringctl": {
            "event": "started",
            "release_id": "checkout-1.4.2-abc123",
            "service": "checkout",
            "version": "1.4.2",
            "ring": "canary",
            "at": "2024-05-06T07:08:09+00:00",
            "actor": "ci-pipeline",
            "text": "checkout@1.4.2 started by ci-pipeline",
            "metadata": {},
        },
    }


async def test_every_event_has_an_emoji_and_slack_text_is_escaped(
    receiver: WebhookReceiver, activities: NotifyActivities
) -> None:
    reason = "gate error_ratio in us-west-2: 0.05 > 0.01 & rising <!channel>"
    for event in NotificationEvent:
        await run(activities, notice(receiver.url, event, text=reason, ring=None, actor=None))

    bodies = receiver.wait_for(len(NotificationEvent))
    assert [b["ringctl"]["event"] for b in bodies] == [str(e) for e in NotificationEvent]
    for event, body in zip(NotificationEvent, bodies, strict=False):
        assert (
            body["text"]
            == f"{EMOJI[event]} gate error_ratio in us-west-2: 0.05 &gt; 0.01 &amp; rising &lt;!channel&gt;"
        )
        assert body["ringctl"]["text"] == reason  # raw for non-Slack receivers
        assert body["ringctl"]["ring"] is None and body["ringctl"]["actor"] is None
        assert body["blocks"][1]["elements"][0]["text"] == "release `checkout-1.4.2-abc123` · 2024-05-06 07:08:09 UTC"


def test_naive_time_is_taken_as_utc_and_long_text_is_cut_for_blocks() -> None:
    payload = build_payload(notice("https://hooks.example.com/x", text="x" * 5000, at=datetime(2024, 1, 2, 3, 4, 5)))
    assert payload["ringctl"]["at"] == "2024-01-02T03:04:05+00:00"
    assert len(payload["blocks"][0]["text"]["text"]) == 3000
    assert payload["ringctl"]["text"] == "x" * 5000


async def test_event_filter_sends_each_event_only_to_its_subscribers(activities: NotifyActivities) -> None:
    with WebhookReceiver() as everything, WebhookReceiver() as incidents:
        config = Notifications(
            webhooks=[
                Webhook(url=everything.url, name="all"),
                Webhook(
                    url=incidents.url,
                    name="incidents",
                    events=[NotificationEvent.GATE_FAILED, NotificationEvent.ROLLED_BACK, NotificationEvent.FAILED],
                ),
            ]
        )
        sequence = [NotificationEvent.STARTED, NotificationEvent.GATE_FAILED, NotificationEvent.ROLLED_BACK]
        for event in sequence:
            for webhook in notifications_for(config, event):
                await run(activities, notice(webhook.url, event, webhook=webhook))

        assert [b["ringctl"]["event"] for b in everything.wait_for(3)] == ["started", "gate_failed", "rolled_back"]
        assert [b["ringctl"]["event"] for b in incidents.wait_for(2)] == ["gate_failed", "rolled_back"]


def test_notifications_for() -> None:
    a = Webhook(url="https://a.example.com/hook", name="a")
    b = Webhook(url="https://b.example.com/hook", name="b", events=[NotificationEvent.HALTED, NotificationEvent.FAILED])
    config = Notifications(webhooks=[a, b])
    assert notifications_for(config, NotificationEvent.HALTED) == [a, b]
    assert notifications_for(config, "started") == [a]
    assert notifications_for(Notifications(), NotificationEvent.FAILED) == []
    with pytest.raises(ValueError):
        notifications_for(config, "exploded")


async def test_one_shared_client_and_aclose(receiver: WebhookReceiver) -> None:
    acts = NotifyActivities()
    await run(acts, notice(receiver.url))
    first = acts._http()
    await run(acts, notice(receiver.url))
    assert acts._http() is first
    await acts.aclose()
    assert first.is_closed

    async with httpx.AsyncClient() as own:
        borrowed = NotifyActivities(client=own)
        await run(borrowed, notice(receiver.url))
        await borrowed.aclose()
        assert not own.is_closed  # the caller's client is the caller's to close
    assert len(receiver.wait_for(3)) == 3

    with pytest.raises(ValueError, match="timeout"):
        NotifyActivities(timeout=0)


# --- failures --------------------------------------------------------------------------------------------


async def test_500_is_a_retryable_error_with_status_and_body(
    receiver: WebhookReceiver, activities: NotifyActivities
) -> None:
    receiver.fail(500, "internal_error: upstream down")
    error = await failure(activities, notice(receiver.url))
    assert not error.non_retryable
    assert error.type == "WebhookFailed"
    assert error.details == (500, "internal_error: upstream down")
    assert "HTTP 500" in error.message and "upstream down" in error.message
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [408, 429, 502, 503])
async def test_transient_statuses_are_retryable(
    receiver: WebhookReceiver, activities: NotifyActivities, status: int
) -> None:
    receiver.fail(status, "try later")
    error = await failure(activities, notice(receiver.url))
    assert not error.non_retryable
    assert error.details[0] == status


async def test_retry_after_sets_the_next_retry_delay(receiver: WebhookReceiver, activities: NotifyActivities) -> None:
    receiver.fail(429, "rate_limited", headers={"Retry-After": "7"})
    assert (await failure(activities, notice(receiver.url))).next_retry_delay == timedelta(seconds=7)
    receiver.fail(503, "busy", headers={"Retry-After": "86400"})
    assert (await failure(activities, notice(receiver.url))).next_retry_delay == timedelta(minutes=1)
    receiver.fail(500, "no header")
    assert (await failure(activities, notice(receiver.url))).next_retry_delay is None


@pytest.mark.parametrize(("status", "body"), [(404, "no_service"), (400, "invalid_payload"), (403, "invalid_token")])
async def test_client_errors_are_not_retryable(
    receiver: WebhookReceiver, activities: NotifyActivities, status: int, body: str
) -> None:
    receiver.fail(status, body)
    error = await failure(activities, notice(receiver.url))
    assert error.non_retryable
    assert error.type == "WebhookRejected"
    assert error.details == (status, body)
    assert f"HTTP {status}: {body}" in error.message
    assert "'deploys'" in error.message  # the webhook's name says which one


async def test_connection_refused_is_retryable(activities: NotifyActivities) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token"
    error = await failure(activities, notice(url))
    assert not error.non_retryable
    assert error.type == "WebhookUnreachable"
    assert "ConnectError" in error.message
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None:  # Temporal stores the whole chain in the history
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert not [str(e) for e in chain if "secret-token" in f"{e!s} {e!r}"]


async def test_a_hanging_webhook_times_out_retryably(receiver: WebhookReceiver) -> None:
    acts = NotifyActivities(timeout=0.5)
    receiver.hang()
    try:
        error = await failure(acts, notice(receiver.url))
    finally:
        receiver.succeed()
        await acts.aclose()
    assert not error.non_retryable
    assert error.type == "WebhookUnreachable"
    assert "ReadTimeout" in error.message


async def test_the_webhook_url_is_never_logged_in_full(
    receiver: WebhookReceiver, activities: NotifyActivities, caplog: pytest.LogCaptureFixture
) -> None:
    token = receiver.path.rsplit("/", 1)[1]
    refused = f"http://127.0.0.1:{free_port()}/services/T0/B0/{token}"
    errors: list[ApplicationError] = []
    caplog.set_level(logging.DEBUG)  # httpx logs every request's URL at INFO; httpcore adds DEBUG lines
    with capture_logs() as logs:
        await run(activities, notice(receiver.url))
        receiver.fail(500, "internal_error")
        errors.append(await failure(activities, notice(receiver.url)))
        receiver.fail(404, "no_service")
        errors.append(await failure(activities, notice(receiver.url)))
        errors.append(await failure(activities, notice(refused)))

    assert [e["event"] for e in logs] == ["notify.sent", "notify.failed", "notify.rejected", "notify.unreachable"]
    assert all(e["target"] == redact_url(receiver.url) for e in logs[:3])
    assert logs[0]["target"].startswith("127.0.0.1#") and logs[0]["webhook"] == "deploys"
    assert logs[3]["target"] == redact_url(refused) != logs[0]["target"]
    assert token not in repr(logs)
    assert all(token not in e.message for e in errors)
    assert any(r.name == "httpx" for r in caplog.records), "httpx's request log line is expected (and redacted)"
    assert token not in caplog.text
    assert redact_url(receiver.url) in caplog.text


def test_redact_url() -> None:
    redacted = redact_url("https://hooks.slack.com/services/T0/B0/xyz")
    host, digest = redacted.split("#")
    assert host == "hooks.slack.com" and len(digest) == 8 and "xyz" not in redacted
    assert redacted == redact_url("https://hooks.slack.com/services/T0/B0/xyz")
    assert redacted != redact_url("https://hooks.slack.com/services/T0/B0/xyw")


# --- config ----------------------------------------------------------------------------------------------


def test_webhook_defaults_to_every_event_and_hides_its_url() -> None:
    webhook = Webhook(url="https://hooks.slack.com/services/T0/B0/secret")
    assert webhook.events == list(NotificationEvent)
    assert webhook.name is None
    assert "secret" not in repr(webhook)
    assert Notifications().webhooks == []
    with pytest.raises(ValidationError):
        webhook.name = "x"  # frozen


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/services/T0/B0/secret", "scheme 'ftp'"),
        ("hooks.slack.com/services/T0/B0/secret", "scheme none"),
        ("javascript:alert(1)//secret", "scheme 'javascript'"),
        ("https:///services/secret", "with a host"),
        ("https://hooks.slack.com/services/T0/B0/sec ret", "whitespace"),
    ],
)
def test_bad_urls_are_errors_naming_the_field(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Notifications.model_validate({"webhooks": [{"name": "ok", "url": "https://a.example.com/x"}, {"url": url}]})
    [error] = info.value.errors()
    assert error["loc"] == ("webhooks", 1, "url")
    assert message in error["msg"]
    assert "secret" not in error["msg"]


@pytest.mark.parametrize(
    ("webhook", "loc"),
    [
        ({"url": "https://a.example.com/x", "events": ["started", "exploded"]}, ("webhooks", 0, "events", 1)),
        ({"url": "https://a.example.com/x", "events": []}, ("webhooks", 0, "events")),
        ({"url": "https://a.example.com/x", "evnets": ["started"]}, ("webhooks", 0, "evnets")),
        ({"events": ["started"]}, ("webhooks", 0)),
        ({"url": "https://a.example.com/x", "url_env": "HOOK"}, ("webhooks", 0)),
        ({"url_env": "not a name"}, ("webhooks", 0, "url_env")),
        ({"url_file": "relative/path"}, ("webhooks", 0, "url_file")),
    ],
)
def test_config_errors_name_the_field(webhook: dict[str, object], loc: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        Notifications.model_validate({"webhooks": [webhook]})
    assert [e["loc"] for e in info.value.errors()] == [loc]


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ValidationError) as info:
        Notifications.model_validate({"webhook": []})
    assert info.value.errors()[0]["loc"] == ("webhook",)


# --- on a real worker ------------------------------------------------------------------------------------

#: The retry policy the release workflow is meant to use for notifications, with test-sized intervals.
TEST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0, maximum_attempts=5)


@workflow.defn(sandboxed=False)
class NotifyOnce:
    """Notify once as the release workflow would: failures are caught and reported, never raised."""

    @workflow.run
    async def run(self, request: NotifyInput) -> str:
        try:
            await workflow.execute_activity_method(
                NotifyActivities.notify,
                request,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=TEST_RETRY,
            )
        except ActivityError as exc:
            cause = exc.cause
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            workflow.logger.warning("notification failed: %s", cause)
            return f"failed: {kind}"
        return "sent"


async def run_on_worker(client: Client, request: NotifyInput) -> str:
    acts = NotifyActivities(timeout=5)
    task_queue = f"test-notify-{uuid.uuid4()}"
    try:
        async with Worker(client, task_queue=task_queue, workflows=[NotifyOnce], activities=[acts.notify]):
            return await client.execute_workflow(
                NotifyOnce.run,
                request,
                id=f"notify-{uuid.uuid4()}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            )
    finally:
        await acts.aclose()


async def test_worker_retries_a_failing_webhook_until_it_answers(client: Client, receiver: WebhookReceiver) -> None:
    receiver.fail(503, "busy", times=2)
    assert await run_on_worker(client, notice(receiver.url, ring="canary")) == "sent"
    assert [r.status for r in receiver.received] == [503, 503, 200]
    bodies = receiver.bodies
    assert bodies[0] == bodies[2]  # a retry posts the same message
    assert bodies[2]["ringctl"]["at"] == "2024-05-06T07:08:09+00:00"  # the input survived the data converter


async def test_worker_does_not_retry_a_rejected_webhook(client: Client, receiver: WebhookReceiver) -> None:
    receiver.fail(404, "no_service")
    assert await run_on_worker(client, notice(receiver.url)) == "failed: WebhookRejected"
    assert [r.status for r in receiver.received] == [404]


# --- webhook URLs by reference: resolved on the worker, never in a payload ---------------------------


def test_a_webhook_by_reference_resolves_on_the_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RINGCTL_TEST_HOOK", "https://hooks.example.com/services/T0/B0/secret\n")
    assert webhook_url(Webhook(url_env="RINGCTL_TEST_HOOK")) == "https://hooks.example.com/services/T0/B0/secret"
    mounted = tmp_path / "slack"
    mounted.write_text("https://hooks.example.com/services/T0/B0/filed\n", encoding="utf-8")
    assert webhook_url(Webhook(url_file=str(mounted))) == "https://hooks.example.com/services/T0/B0/filed"


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        (
            {"name": "r", "url_env": "RINGCTL_TEST_UNSET"},
            "webhook 'r': environment variable RINGCTL_TEST_UNSET is not set on this worker",
        ),
        ({"url_file": "/nonexistent/slack"}, "webhook: cannot read /nonexistent/slack: No such file or directory"),
        ({"url_env": "RINGCTL_TEST_BAD"}, "webhook: $RINGCTL_TEST_BAD must be an http or https URL (scheme 'ftp')"),
    ],
)
def test_an_unresolvable_reference_is_not_retried_and_never_shows_the_value(
    monkeypatch: pytest.MonkeyPatch, webhook: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("RINGCTL_TEST_UNSET", raising=False)
    monkeypatch.setenv("RINGCTL_TEST_BAD", "ftp://hooks.example.com/secret")
    with pytest.raises(WebhookUnresolved) as info:
        webhook_url(Webhook.model_validate(webhook))
    assert str(info.value) == message and "secret" not in str(info.value)
    assert info.value.non_retryable


def test_release_metadata_travels_in_every_notification() -> None:
    request = NotifyInput(
        webhook=Webhook(url="https://hooks.example.com/x"),
        event=NotificationEvent.STARTED,
        release_id="checkout@1.0.0",
        service="checkout",
        version="1.0.0",
        ring=None,
        text="checkout@1.0.0 started by ci",
        at=datetime(2026, 12, 3, tzinfo=UTC),
        actor=None,
        metadata={"commit": "3f2a9c1d", "change": "CHG-1234"},
    )
    payload = build_payload(request)
    assert payload["ringctl"]["metadata"] == {"commit": "3f2a9c1d", "change": "CHG-1234"}
    assert "commit 3f2a9c1d" in payload["blocks"][1]["elements"][0]["text"]
