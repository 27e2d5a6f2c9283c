"""Regions in ``RingRelease``: deploy a ring's regions and wait for their rollouts; roll every region back.

A deploy returns an undo record, kept in the release's status; a rollback runs
from those records in reverse ring order, in parallel within a ring. A deploy
already sent is never abandoned (it runs shielded), so a rollback never loses
its undo record. Functions of the run's :class:`~ringctl.workflows.state.Release`;
deterministic: only ``workflow.*`` APIs.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.models import RollbackInput, WaitRolloutInput
    from ringctl.activities.region import RegionActivities
    from ringctl.core.constants import SYSTEM_ACTOR
    from ringctl.core.errors import root_cause
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import Region, Ring
    from ringctl.providers.models import DeployInput, RolloutState, UndoRecord
    from ringctl.workflows.models import RegionState, RegionStatus, ReleaseState, RingState
    from ringctl.workflows.state import Release, RingFailed
    from ringctl.workflows.timeouts import (
        DEPLOY_TIMEOUT,
        REGION_CALL_HEARTBEAT,
        RETRY,
        ROLLBACK_RETRY,
        ROLLBACK_TIMEOUT,
        ROLLOUT_TIMEOUT_MARGIN,
    )


async def deploy_ring(release: Release, index: int, ring: Ring) -> None:
    """Deploy and verify the ring's regions, at most ``max_parallel`` at once; stop starting on a failure.

    Raises :class:`RingFailed` naming every region that failed.
    """
    slots = asyncio.Semaphore(ring.max_parallel)
    failures: list[str] = []

    async def one(region: Region, status: RegionStatus) -> None:
        async with slots:
            if failures:
                return
            await release.checkpoint()
            try:
                release.set_region(status, RegionState.DEPLOYING)
                await _deploy_region(release, region)
                release.set_region(status, RegionState.VERIFYING)
                rollout = await workflow.execute_activity_method(
                    RegionActivities.wait_rollout,
                    WaitRolloutInput(
                        target=release.target(region),
                        release_id=release.request.release_id,
                        timeout=ring.rollout_timeout,
                    ),
                    start_to_close_timeout=ring.rollout_timeout + ROLLOUT_TIMEOUT_MARGIN,
                    heartbeat_timeout=REGION_CALL_HEARTBEAT,
                    retry_policy=RETRY,
                )
            except ActivityError as error:
                message = release.failure_of(error)
            else:
                if rollout.state is RolloutState.COMPLETE:
                    release.set_region(status, RegionState.HEALTHY, rollout.message)
                    return
                message = rollout.message
            release.set_region(status, RegionState.FAILED, message)
            failures.append(f"{region.name}: {message}")

    statuses = release.status.rings[index].regions
    await asyncio.gather(*(one(region, status) for region, status in zip(ring.regions, statuses, strict=True)))
    if failures:
        raise RingFailed("; ".join(failures))


def promote(release: Release, index: int) -> None:
    """Mark every region of the ring promoted (its bake passed)."""
    for region in release.status.rings[index].regions:
        release.set_region(region, RegionState.PROMOTED)


async def _deploy_region(release: Release, region: Region) -> None:
    """Deploy to one region, shielded so a rollback never loses the undo record of a deploy in flight."""
    task = asyncio.create_task(_run_deploy(release, region))
    release.deploys_in_flight.add(task)
    task.add_done_callback(release.deploys_in_flight.discard)
    await asyncio.shield(task)


async def _run_deploy(release: Release, region: Region) -> None:
    request = release.request
    undo = await workflow.execute_activity_method(
        RegionActivities.deploy,
        DeployInput(
            target=release.target(region),
            release_id=request.release_id,
            service=request.service,
            version=request.version,
            image=request.image,
        ),
        start_to_close_timeout=DEPLOY_TIMEOUT,
        heartbeat_timeout=REGION_CALL_HEARTBEAT,
        retry_policy=RETRY,
    )
    if not any(record.target.region == region.name for record in release.status.undo_records):
        release.status.undo_records.append(undo)
    detail = f"{undo.previous_image or '-'} -> {undo.new_image}" if undo.changed else f"already on {undo.new_image}"
    release.event(SYSTEM_ACTOR, "deploy", region=region.name, detail=detail)


async def roll_back_all(release: Release, reason: str) -> None:
    """Undo every changed region, in reverse ring order, in parallel within a ring; end the release.

    Ends ``rolled_back``, or ``failed`` naming the regions whose rollback could not finish.
    """
    release.set_state(ReleaseState.ROLLING_BACK, reason)
    release.event(SYSTEM_ACTOR, "rollback_start", detail=reason)
    release.count("ringctl_rollbacks_started", "releases that started rolling back")
    if release.deploys_in_flight:
        await asyncio.gather(*release.deploys_in_flight, return_exceptions=True)
    records = release.status.undo_records
    ring_of = {region.name: i for i, ring in enumerate(release.stages) for region in ring.regions}
    stuck: list[str] = []
    for index in sorted({ring_of[r.target.region] for r in records}, reverse=True):
        ring_status = release.status.rings[index]
        ring_status.state = RingState.ROLLING_BACK
        in_ring = [r for r in records if ring_of[r.target.region] == index]
        outcomes = await asyncio.gather(*(_roll_back_region(release, index, record) for record in in_ring))
        stuck += [region for region in outcomes if region is not None]
        ring_status.state = RingState.ROLLED_BACK
    release_id = release.request.release_id
    if stuck:
        release.set_state(ReleaseState.FAILED, f"{reason}; rollback could not finish in {', '.join(stuck)}")
        release.event(SYSTEM_ACTOR, "rollback_failed", detail=", ".join(stuck))
        release.count("ringctl_rollbacks_failed", "rollbacks that could not restore every region")
        release.notify(NotificationEvent.FAILED, f"{release_id}: {release.status.reason}; needs a human")
    else:
        release.set_state(ReleaseState.ROLLED_BACK, reason)
        release.event(SYSTEM_ACTOR, "rolled_back")
        release.notify(NotificationEvent.ROLLED_BACK, f"{release_id} rolled back: {reason}")


async def _roll_back_region(release: Release, index: int, undo: UndoRecord) -> str | None:
    """Roll one region back; return its name if it could not be."""
    region = undo.target.region
    status = next(r for r in release.status.rings[index].regions if r.name == region)
    release.set_region(status, RegionState.ROLLING_BACK)
    try:
        result = await workflow.execute_activity_method(
            RegionActivities.rollback,
            RollbackInput(undo=undo),
            start_to_close_timeout=ROLLBACK_TIMEOUT,
            heartbeat_timeout=REGION_CALL_HEARTBEAT,
            retry_policy=ROLLBACK_RETRY,
        )
    except ActivityError as error:
        release.set_region(status, RegionState.FAILED, f"rollback failed: {root_cause(error)}")
        release.event(SYSTEM_ACTOR, "region_rollback_failed", region=region, detail=root_cause(error))
        return region
    release.set_region(status, RegionState.ROLLED_BACK, result.message)
    status.image = result.image
    release.event(SYSTEM_ACTOR, "region_rolled_back", region=region, detail=f"now {result.image}")
    return None
