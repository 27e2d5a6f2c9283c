"""The ``RingRelease`` workflow: one release of one service through staging and the rings.

Deterministic orchestration only: every effect is an activity, every wait a
durable timer or condition, every timestamp ``workflow.now()``. Human commands
are Updates whose validators (:mod:`ringctl.workflows.commands`) refuse what is
not allowed now, so a refused command writes nothing to the history.

Where things are: the run's state and bookkeeping in :mod:`~ringctl.workflows.state`,
the alarm blocker in :mod:`~ringctl.workflows.alarms`, the error-budget check and the
bake in :mod:`~ringctl.workflows.gating`, deploys and rollbacks of regions in
:mod:`~ringctl.workflows.regions`, notifications in :mod:`~ringctl.workflows.outbox`,
the post-release watch in :mod:`~ringctl.workflows.watch`; this module drives the rings in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.schedule import CheckWindowInput, check_window
    from ringctl.core.bake import bake_words
    from ringctl.core.constants import (
        PATCH_END_AS_STATE,
        PATCH_INDEX_WAITING,
        PATCH_INTERRUPTS_WIN,
        STATUS_QUERY,
        SYSTEM_ACTOR,
        WORKFLOW_TYPE,
    )
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import OnFailure, Ring
    from ringctl.workflows import alarms, commands, gating, regions, watch
    from ringctl.workflows.models import (
        AbortRequest,
        Approval,
        ApproveRequest,
        CommandResult,
        Continued,
        Override,
        OverrideKind,
        OverrideRequest,
        PastRelease,
        PauseRequest,
        Phase,
        ReleaseInput,
        ReleaseState,
        ReleaseStatus,
        ResumeRequest,
        RingState,
        RollbackRequest,
    )
    from ringctl.workflows.state import Release, RingFailed
    from ringctl.workflows.timeouts import WINDOW_CHECK_TIMEOUT


@workflow.defn(name=WORKFLOW_TYPE)
class RingRelease:
    """Release one service version: staging, then each ring in order, gated; roll back or halt on failure."""

    @workflow.init
    def __init__(self, request: ReleaseInput) -> None:
        self._release = Release(request)

    @workflow.run
    async def run(self, request: ReleaseInput) -> ReleaseStatus:
        """Drive the release to an end state and return its final status."""
        release = self._release
        if request.rollback_of is not None:
            return await self._roll_back_ended(request.rollback_of)
        detail = f"{request.service} {request.version} ({request.image})"
        if request.speed != 1:
            detail += f"; waits shortened by release start --speed {request.speed:g}"
        if request.metadata:
            detail += "; " + ", ".join(f"{key} {value}" for key, value in request.metadata.items())
        if request.continued is None:
            release.event(request.started_by, "start", detail=detail)
            release.notify(NotificationEvent.STARTED, f"{request.release_id} started by {request.started_by}")
        progress = asyncio.create_task(self._advance(request.continued))
        await workflow.wait_condition(lambda: progress.done() or release.interrupted)
        if not progress.done():
            progress.cancel()  # cancels the activity or wait in progress; nothing new starts (``checkpoint``)
        failure: str | None = None
        with contextlib.suppress(asyncio.CancelledError):
            failure = await progress
        if release.deploys_in_flight and workflow.patched(PATCH_INTERRUPTS_WIN):
            # A deploy already sent is awaited, never abandoned: its undo record must not be lost.
            await asyncio.gather(*release.deploys_in_flight, return_exceptions=True)
        abort = release.abort_request
        if release.rollback_request is not None:
            await self._run_requested_rollback()
        elif abort is not None:
            release.set_state(ReleaseState.ABORTED, f"aborted by {abort.by}: {abort.reason}")
            release.notify(NotificationEvent.ABORTED, f"{request.release_id} aborted by {abort.by}: {abort.reason}")
        elif failure is not None:
            await regions.roll_back_all(release, failure)
        else:
            release.set_state(ReleaseState.COMPLETED, "every ring promoted")
            release.event(SYSTEM_ACTOR, "complete")
            release.notify(NotificationEvent.COMPLETED, f"{request.release_id} completed: every ring promoted")
        await self._finish()
        return self._end()

    def _end(self) -> ReleaseStatus:
        """The final status; a release that did not complete fails its workflow with it (``ended_status`` reads it).

        So the Temporal UI's status column tells a rolled back, aborted or failed release
        from a completed one without a custom filter; the failure's type is the state.
        """
        status = self._release.status
        if status.state is ReleaseState.COMPLETED or not workflow.patched(PATCH_END_AS_STATE):
            return status
        raise ApplicationError(
            f"{status.release_id} {status.state}: {status.reason}", status, type=str(status.state), non_retryable=True
        )

    async def _run_requested_rollback(self) -> None:
        request = self._release.rollback_request
        assert request is not None
        self._release.rollback_ran = True
        await regions.roll_back_all(self._release, f"rollback requested by {request.by}: {request.reason}")

    async def _finish(self) -> None:
        """Send the last notifications; a rollback accepted meanwhile (racing an abort or the end) still runs."""
        release = self._release
        while True:
            await release.outbox.flush(stop=lambda: release.rollback_pending)
            if not release.rollback_pending:
                return
            await self._run_requested_rollback()

    async def _roll_back_ended(self, past: PastRelease) -> ReleaseStatus:
        """Roll back a release that has ended (completed, aborted, or failed to roll back), as a new run."""
        release = self._release
        release.status.rollback_until = None
        release.rollback_ran = True
        release.event(past.by, "rollback", detail=past.reason)
        await regions.roll_back_all(release, f"rollback requested by {past.by}: {past.reason}")
        await self._finish()
        return self._end()

    # -- queries and updates: validators in ``commands``, effects here --------------

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ReleaseStatus:
        """The release's state, rings, regions, gate results and event log."""
        return self._release.shown_status()

    @workflow.update
    def approve(self, request: ApproveRequest) -> CommandResult:
        """Approve promotion into a ring that is waiting for approval.

        Also takes an override in the shape older clients sent (``override_budget`` /
        ``override_window`` flags), and applies it as :meth:`override` does.
        """
        if request.is_override:
            return self._apply_override(OverrideRequest.of(request))
        release = self._release
        ring = release.ring(request.ring)
        key = self._signed_with(request)
        ring.approvals.append(
            Approval(approver=request.by, comment=request.comment, at=workflow.now(), key_fingerprint=key)
        )
        release.event(request.by, "approve", ring=request.ring, detail=request.comment, key_fingerprint=key)
        spec = next(stage for stage in release.stages if stage.name == request.ring)
        short = ring.state is RingState.AWAITING_APPROVAL and len(ring.approvals) < spec.approval.min_approvals
        if short and workflow.patched(PATCH_INDEX_WAITING):  # say what is still missing; index who may still approve
            release.set_state(ReleaseState.AWAITING_APPROVAL, self._approval_wait(spec))
        signed = f" (signed, key {key})" if key else ""
        return release.result(f"ring {request.ring} approved by {request.by}{signed}")

    def _signed_with(self, request: ApproveRequest | OverrideRequest) -> str | None:
        """The fingerprint of the key that signed ``request`` (validated already), or ``None``."""
        return self._release.request.plan.approvals.fingerprint(request.by) if request.signature else None

    def _approval_wait(self, ring: Ring) -> str:
        """What the ring's approval wait says: how many approvals are missing, of whom, and who approved."""
        release = self._release
        given = release.ring(ring.name).approvals
        missing = ring.approval.min_approvals - len(given)
        approvers = ", ".join(release.request.plan.approvers_for(ring)) or "anyone"
        more = " more" if given else ""
        text = f"waiting for {missing}{more} approval{'s' if missing > 1 else ''} of ring {ring.name} ({approvers})"
        return text + (f"; approved by {', '.join(a.approver for a in given)}" if given else "")

    @approve.validator
    def _check_approve(self, request: ApproveRequest) -> None:
        commands.check_approve(request, self._release.situation())

    @workflow.update
    def override(self, request: OverrideRequest) -> CommandResult:
        """Deploy a ring despite its exhausted error budget (kind ``budget``) or closed window (kind ``window``)."""
        return self._apply_override(request)

    @override.validator
    def _check_override(self, request: OverrideRequest) -> None:
        commands.check_override(request, self._release.situation())

    def _apply_override(self, request: OverrideRequest) -> CommandResult:
        release = self._release
        ring = release.ring(request.ring)
        key = self._signed_with(request)
        given = Override(by=request.by, reason=request.reason, at=workflow.now(), key_fingerprint=key)
        if request.kind is OverrideKind.BUDGET:
            ring.budget_override = given
            release.event(request.by, "override_budget", ring=request.ring, detail=request.reason, key_fingerprint=key)
            return release.result(f"error budget of ring {request.ring} overridden by {request.by}")
        ring.window_override = given
        release.event(request.by, "override_window", ring=request.ring, detail=request.reason, key_fingerprint=key)
        return release.result(f"deployment window of ring {request.ring} overridden by {request.by}")

    @workflow.update
    def rollback(self, request: RollbackRequest) -> CommandResult:
        """Roll back every region this release changed, in reverse ring order; wins over everything in flight.

        Accepted in any state, also while an abort winds down or the release is ending.
        """
        release = self._release
        release.rollback_request = request
        release.event(request.by, "rollback", detail=request.reason)
        release.show_interrupt(ReleaseState.ROLLING_BACK, f"rollback requested by {request.by}: {request.reason}")
        return release.result("rollback started")

    @rollback.validator
    def _check_rollback(self, request: RollbackRequest) -> None:
        commands.check_rollback(request, self._release.situation())

    @workflow.update
    def pause(self, request: PauseRequest) -> CommandResult:
        """Stop advancing: no new deploy or promotion until resumed; gates keep running."""
        self._release.event(request.by, "pause", detail=request.reason)
        self._release.set_paused(True)
        return self._release.result("paused")

    @pause.validator
    def _check_pause(self, request: PauseRequest) -> None:
        commands.check_pause(request, self._release.situation())

    @workflow.update
    def resume(self, request: ResumeRequest) -> CommandResult:
        """Resume a paused release, or retry the halted ring."""
        release = self._release
        if release.paused:
            message = "resumed"
        else:
            release.resume_requested = True
            message = release.resume_means
        release.event(request.by, "resume", detail=request.reason)
        release.set_paused(False)
        return release.result(message)

    @resume.validator
    def _check_resume(self, request: ResumeRequest) -> None:
        commands.check_resume(request, self._release.situation())

    @workflow.update
    def abort(self, request: AbortRequest) -> CommandResult:
        """End the release where it is, without rolling back."""
        release = self._release
        release.abort_request = request
        release.event(request.by, "abort", detail=request.reason)
        release.show_interrupt(ReleaseState.ABORTING, f"abort requested by {request.by}: {request.reason}")
        return release.result("aborting; regions stay as they are")

    @abort.validator
    def _check_abort(self, request: AbortRequest) -> None:
        commands.check_abort(request, self._release.situation())

    # -- progress --------------------------------------------------------------------

    async def _advance(self, continued: Continued | None) -> str | None:
        """Run every ring (from where a continued run left off) and the watch; the failure to roll back for, or None."""
        release = self._release
        first = continued.ring if continued is not None else 0
        for index, ring in enumerate(release.stages[first:], start=first):
            resume = continued if index == first else None
            while True:
                try:
                    await self._run_ring(index, ring, resume)
                    break
                except RingFailed as failure:
                    reason = f"ring {ring.name} failed: {failure}"
                    release.ring(ring.name).state = RingState.FAILED
                    release.ring(ring.name).message = str(failure)
                    release.event(SYSTEM_ACTOR, "ring_failed", ring=ring.name, detail=str(failure))
                    if ring.on_failure is OnFailure.ROLLBACK:
                        return reason
                    await release.halt(ring.name, reason)
                    resume = None  # a retried ring runs in full
        return await watch.run(release, continued)

    async def _run_ring(self, index: int, ring: Ring, resume: Continued | None = None) -> None:
        """Approval, window, alarms, error budget, deploy, bake, promote: one ring, or its rest after ``resume``."""
        release, request = self._release, self._release.request
        status = release.status.rings[index]
        release.status.current_ring = ring.name
        phase = resume.phase if resume is not None else None
        if phase is None:
            await release.checkpoint()
        else:  # a run continued mid-bake or mid-hold goes on while paused, as the run before it did
            release.stop_if_interrupted()
        if phase is None:
            await self._await_approval(index, ring)
            if ring.windows or ring.freezes or ring.holidays:
                await self._wait_for_window(index, ring)
                await release.checkpoint()
        if phase is not Phase.BAKE:
            await alarms.wait_while_firing(release, index, ring)
            budget_gates = request.plan.budget_gates_for(request.service, ring)
            if budget_gates and status.budget_override is None:
                await gating.check_budget(release, index, ring, budget_gates, resume)
                await release.checkpoint()
            if status.started_at is None:
                status.started_at = workflow.now()
            status.state = RingState.DEPLOYING
            status.message = ""
            release.set_state(ReleaseState.DEPLOYING, f"deploying ring {ring.name}")
            await regions.deploy_ring(release, index, ring)
            status.state = RingState.BAKING
            release.set_state(ReleaseState.BAKING, f"baking ring {ring.name} for {bake_words(ring.bake)}")
        await gating.bake(release, index, ring, resume if phase is Phase.BAKE else None)
        release.stop_if_interrupted()
        regions.promote(release, index)
        status.state = RingState.PROMOTED
        status.finished_at = workflow.now()
        release.event(SYSTEM_ACTOR, "promote", ring=ring.name)
        release.notify(
            NotificationEvent.RING_PROMOTED, f"{request.release_id}: ring {ring.name} promoted", ring=ring.name
        )

    async def _await_approval(self, index: int, ring: Ring) -> None:
        """Wait until the ring has the approvals its plan requires (none: return at once)."""
        release, request = self._release, self._release.request
        status = release.status.rings[index]
        needed = ring.approval.min_approvals
        if not ring.approval.required or len(status.approvals) >= needed:
            return
        status.state = RingState.AWAITING_APPROVAL
        waiting = self._approval_wait(ring)
        release.set_state(ReleaseState.AWAITING_APPROVAL, waiting)
        release.event(SYSTEM_ACTOR, "await_approval", ring=ring.name, detail=waiting)
        release.notify(NotificationEvent.AWAITING_APPROVAL, f"{request.release_id}: {waiting}", ring=ring.name)
        await release.wait(lambda: len(status.approvals) >= needed)
        await release.checkpoint()

    async def _wait_for_window(self, index: int, ring: Ring) -> None:
        """Wait durably until the ring's deployment window is open and no freeze applies, or an override."""
        release = self._release
        status = release.status.rings[index]
        announced = False
        while status.window_override is None:
            try:
                check = await workflow.execute_local_activity(
                    check_window,
                    CheckWindowInput(schedule=ring.schedule, now=workflow.now()),
                    start_to_close_timeout=WINDOW_CHECK_TIMEOUT,
                )
            except ActivityError as error:
                raise RingFailed(f"deployment window check failed: {release.failure_of(error)}") from error
            if check.open:
                if announced:
                    release.event(SYSTEM_ACTOR, "window_open", ring=ring.name)
                break
            opens = f"opens {check.opens_at:%Y-%m-%d %H:%M} UTC" if check.opens_at else "does not open within a year"
            waiting = f"ring {ring.name}: {check.reason}; {opens}"
            status.state, status.waiting_until = RingState.AWAITING_WINDOW, check.opens_at
            release.set_state(ReleaseState.AWAITING_WINDOW, waiting)
            if not announced:
                release.event(SYSTEM_ACTOR, "await_window", ring=ring.name, detail=f"{check.reason}; {opens}")
                release.notify(
                    NotificationEvent.AWAITING_WINDOW, f"{release.request.release_id}: {waiting}", ring=ring.name
                )
                announced = True
            timeout = max(check.opens_at - workflow.now(), timedelta(seconds=1)) if check.opens_at else None
            with contextlib.suppress(TimeoutError):
                await release.wait(lambda: status.window_override is not None, timeout=timeout)
        status.waiting_until = None


__all__ = ["RingRelease"]
