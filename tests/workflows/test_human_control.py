"""Approvals (N-of-M, separation of duties, signatures), windows, rollback at any time, notifications.

Real Temporal dev server, sandbox regions; a real local HTTP server receives the webhooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from ringctl.client.lookup import ended_status
from ringctl.client.releases import rollback_release, send, start_release
from ringctl.core.errors import ReleaseError
from ringctl.core.searchattributes import SA_WAITING_FOR
from ringctl.core.signing import ApprovalClaim, generate_keypair, sign_claim
from ringctl.providers.sandbox import SandboxWorld
from ringctl.workflows.models import ApproveRequest, ReleaseState, RingState
from ringctl.workflows.ring_release import RingRelease
from tests.support.plans import SERVICE, make_plan, region, ring
from tests.support.release_waits import awaiting, wait_for
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.workers import sandbox_worker

STARTER = "ci-pipeline"


def japan(**approval: Any) -> dict[str, Any]:
    """The final ring, guarded by an approval."""
    return ring(
        "japan",
        region("ap-northeast-1", "JP"),
        approval={"required": True, **approval},
    )


async def start(client: Client, task_queue: str, version: str = "5.0.0", **plan: Any) -> WorkflowHandle:
    return await start_release(
        client, make_plan(**plan), service=SERVICE, version=version, started_by=STARTER, task_queue=task_queue
    )


def approve(by: str, ring_name: str = "japan", **fields: Any) -> ApproveRequest:
    return ApproveRequest(ring=ring_name, by=by, **fields)


async def test_the_starter_may_not_approve_their_own_release(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    rings = [ring("canary", region("canary-1")), japan(approvers=[STARTER, "release-manager"])]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings)
        await wait_for(handle, awaiting("japan"))
        with pytest.raises(ReleaseError, match="'ci-pipeline' started release checkout@5.0.0 and may not approve it"):
            await send(client, SERVICE, RingRelease.approve, approve(STARTER))
        await send(client, SERVICE, RingRelease.approve, approve("release-manager"))
        assert (await ended_status(handle, rpc_timeout=None)).state is ReleaseState.COMPLETED


async def test_self_approval_allowed_when_the_ring_says_so(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    rings = [japan(approvers=[STARTER], allow_self_approval=True)]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings)
        await wait_for(handle, awaiting("japan"))
        await send(client, SERVICE, RingRelease.approve, approve(STARTER))
        assert (await ended_status(handle, rpc_timeout=None)).state is ReleaseState.COMPLETED


async def test_two_of_three_approvals_from_a_group_each_person_once(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    groups = {"release-managers": ["alice", "bob", "carol"]}
    rings = [japan(approvers=["release-managers"], min_approvals=2)]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings, groups=groups)
        await wait_for(handle, awaiting("japan"))
        with pytest.raises(ReleaseError, match="'mallory' may not approve ring 'japan'; approvers: alice, bob, carol"):
            await send(client, SERVICE, RingRelease.approve, approve("mallory"))
        await send(client, SERVICE, RingRelease.approve, approve("alice", comment="looks good"))
        status = await handle.query(RingRelease.status)
        assert status.rings[-1].state is RingState.AWAITING_APPROVAL, "one approval is not enough"
        # issue 13: the wait said "2 approvals" after one arrived; it says what is still missing, and who may act
        assert status.reason == "waiting for 1 more approval of ring japan (alice, bob, carol); approved by alice"
        described = await handle.describe()
        assert described.typed_search_attributes.get(SA_WAITING_FOR) == ["bob", "carol", "release-managers"]
        with pytest.raises(ReleaseError, match="'alice' has already approved ring 'japan'"):
            await send(client, SERVICE, RingRelease.approve, approve("alice"))
        await send(client, SERVICE, RingRelease.approve, approve("carol"))
        final = await ended_status(handle, rpc_timeout=None)
    assert final.state is ReleaseState.COMPLETED
    assert [a.approver for a in final.rings[-1].approvals] == ["alice", "carol"]


@pytest.fixture
def keys() -> Iterator[dict[str, tuple[bytes, str]]]:
    yield {name: generate_keypair() for name in ("alice", "bob")}


def signed(keys: dict[str, tuple[bytes, str]], signer: str, **claim: Any) -> dict[str, Any]:
    """Fields of an approval by ``alice`` signed with ``signer``'s key over ``claim`` (defaults: the real one)."""
    values = {
        "release_id": "checkout@5.0.0",
        "ring": "japan",
        "version": "5.0.0",
        "approver": "alice",
        "signed_at": datetime.now(UTC),
        **claim,
    }
    the_claim = ApprovalClaim(**values)
    return {"signed_at": the_claim.signed_at, "signature": sign_claim(keys[signer][0], the_claim)}


async def test_signed_approvals_valid_wrong_key_tampered_and_unsigned(
    client: Client, task_queue: str, world: SandboxWorld, keys: dict[str, tuple[bytes, str]]
) -> None:
    approvals = {"signing": "required", "public_keys": {name: pair[1] for name, pair in keys.items()}}
    rings = [japan(approvers=["alice", "bob"])]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings, approvals=approvals)
        await wait_for(handle, awaiting("japan"))
        history = len((await handle.fetch_history()).events)
        refusals = {
            "unsigned": ({}, "approval by 'alice' is not signed; this plan requires signed approvals"),
            "wrong key": (signed(keys, "bob"), "signature does not match"),
            "tampered ring": (signed(keys, "alice", ring="canary"), "signature does not match"),
            "tampered version": (signed(keys, "alice", version="5.0.1"), "signature does not match"),
            "tampered release": (signed(keys, "alice", release_id="checkout@4.0.0"), "signature does not match"),
            "stale": (
                signed(keys, "alice", signed_at=datetime.now(UTC) - timedelta(hours=2)),
                "more than the 1h allowed",
            ),
            "forged base64": ({"signed_at": datetime.now(UTC), "signature": "not-base64!"}, "signature"),
        }
        for case, (fields, message) in refusals.items():
            with pytest.raises(ReleaseError, match=message):
                await send(client, SERVICE, RingRelease.approve, approve("alice", **fields))
            assert len((await handle.fetch_history()).events) == history, f"{case}: nothing written"
        await send(client, SERVICE, RingRelease.approve, approve("alice", **signed(keys, "alice")))
        assert (await ended_status(handle, rpc_timeout=None)).state is ReleaseState.COMPLETED


async def test_window_override_needs_an_allowed_approver_and_a_reason(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    now = datetime.now(UTC)
    freeze = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
        "reason": "incident review",
    }
    rings = [
        ring("canary", region("canary-1"), freezes=[freeze], approval={"approvers": ["oncall-lead"]}),
    ]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings)
        status = await wait_for(handle, lambda s: s.state is ReleaseState.AWAITING_WINDOW)
        canary = status.rings[1]
        assert canary.state is RingState.AWAITING_WINDOW and canary.waiting_until is not None
        assert "freeze 'incident review'" in status.reason and "opens" in status.reason
        assert world.image("canary-1") == "sandbox/app:0", "nothing deployed during the freeze"
        with pytest.raises(ReleaseError, match="a window override needs a reason"):
            await send(client, SERVICE, RingRelease.approve, approve("oncall-lead", "canary", override_window=True))
        with pytest.raises(ReleaseError, match="'dev' may not approve ring 'canary'"):
            await send(
                client, SERVICE, RingRelease.approve, approve("dev", "canary", override_window=True, reason="hotfix")
            )
        await send(
            client,
            SERVICE,
            RingRelease.approve,
            approve("oncall-lead", "canary", override_window=True, reason="security hotfix"),
        )
        final = await ended_status(handle, rpc_timeout=None)
    assert final.state is ReleaseState.COMPLETED
    override = final.rings[1].window_override
    assert override is not None and (override.by, override.reason) == ("oncall-lead", "security hotfix")
    assert ("oncall-lead", "override_window", "security hotfix") in [
        (e.actor, e.action, e.detail) for e in final.events
    ]


async def test_rollback_during_bake(client: Client, task_queue: str, world: SandboxWorld) -> None:
    rings = [ring("canary", region("canary-1"), bake="1h")]
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=rings)
        await wait_for(handle, lambda s: s.rings[1].state is RingState.BAKING)
        result = await rollback_release(client, SERVICE, by="oncall", reason="error logs")
        assert result.message == "rollback started"
        final = await ended_status(handle, rpc_timeout=None)
    assert final.state is ReleaseState.ROLLED_BACK
    assert world.image("canary-1") == world.image("staging-1") == "sandbox/app:0"


async def test_notifications_arrive_in_order_and_a_failing_webhook_changes_nothing(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    with WebhookReceiver() as releases, WebhookReceiver() as ends, WebhookReceiver() as broken:
        broken.fail(500)
        notifications = {
            "webhooks": [
                {"name": "broken", "url": broken.url},
                {"name": "releases", "url": releases.url},
                {"name": "ends", "url": ends.url, "events": ["completed", "rolled_back"]},
            ]
        }
        rings = [ring("canary", region("canary-1")), japan(approvers=["release-manager"])]
        async with sandbox_worker(client, task_queue, world):
            handle = await start(client, task_queue, rings=rings, notifications=notifications)
            await wait_for(handle, awaiting("japan"))
            await send(client, SERVICE, RingRelease.approve, approve("release-manager"))
            final = await ended_status(handle, rpc_timeout=None)
        bodies = releases.wait_for(6)
        assert [body["ringctl"]["event"] for body in ends.wait_for(1)] == ["completed"]
        assert len(broken.received) >= 1, "the broken webhook was tried"
    assert final.state is ReleaseState.COMPLETED
    assert [body["ringctl"]["event"] for body in bodies] == [
        "started",
        "ring_promoted",
        "ring_promoted",
        "awaiting_approval",
        "ring_promoted",
        "completed",
    ]
    assert [body["ringctl"]["ring"] for body in bodies][1:5] == ["staging", "canary", "japan", "japan"]
    assert bodies[0]["ringctl"]["release_id"] == "checkout@5.0.0"
    assert bodies[0]["text"].endswith("checkout@5.0.0 started by ci-pipeline")


async def test_rollback_while_a_rollout_is_still_progressing(
    client: Client, task_queue: str, world: SandboxWorld
) -> None:
    world.scenario.rollout_polls = 10**6  # never completes by itself
    async with sandbox_worker(client, task_queue, world):
        handle = await start(client, task_queue, rings=[ring("canary", region("canary-1"))])
        await wait_for(handle, lambda s: s.rings[0].regions[0].state.value == "verifying")
        await rollback_release(client, SERVICE, by="oncall", reason="stuck rollout")
        final = await ended_status(handle, rpc_timeout=None)
    assert final.state is ReleaseState.ROLLED_BACK
    assert world.image("staging-1") == "sandbox/app:0"
    assert final.rings[1].regions[0].state.value == "pending", "the next ring never started"


async def test_webhooks_given_by_reference_are_posted_and_never_in_the_history(
    client: Client, task_queue: str, world: SandboxWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Webhook URLs are secrets: by ``url_env``/``url_file`` only the reference travels; the worker reads it."""
    with WebhookReceiver() as by_env, WebhookReceiver() as by_file:
        monkeypatch.setenv("RINGCTL_RELEASES_WEBHOOK", by_env.url)
        mounted = tmp_path / "ends-webhook"
        mounted.write_text(by_file.url + "\n", encoding="utf-8")
        notifications = {
            "webhooks": [
                {"name": "releases", "url_env": "RINGCTL_RELEASES_WEBHOOK", "events": ["started", "completed"]},
                {"name": "ends", "url_file": str(mounted), "events": ["completed"]},
            ]
        }
        async with sandbox_worker(client, task_queue, world):
            handle = await start(
                client, task_queue, rings=[ring("canary", region("canary-1"))], notifications=notifications
            )
            final = await ended_status(handle, rpc_timeout=None)
        assert [b["ringctl"]["event"] for b in by_env.wait_for(2)] == ["started", "completed"]
        assert [b["ringctl"]["event"] for b in by_file.wait_for(1)] == ["completed"]
        # every byte of every event, payloads as they are stored (the JSON form would base64 them)
        history = b"".join(e.SerializeToString() for e in (await handle.fetch_history()).events)
    assert final.state is ReleaseState.COMPLETED
    for secret in (by_env.path, by_file.path):
        assert secret.encode() not in history
    assert b"RINGCTL_RELEASES_WEBHOOK" in history  # the reference is what travels
