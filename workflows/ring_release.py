"""The ``RingRelease`` workflow: one release of one service through staging and the rings.

Deterministic orchestration only: every effect is an activity, every wait a
durable timer or condition, every timestamp ``workflow.now()``. Human commands
are Updates whose validators refuse what is not allowed now, so a refused
command writes nothing to the history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import CancelledError as ActivityCancelled

with workflow.unsafe.imports_passed_through():
    from ringctl.activities.gates import GateActivities
    from ringctl.activities.models import (
        EvaluateGatesInput,
        GateDecision,
        GateEvaluation,
        RollbackInput,
        WaitRolloutInput,
    )
    from ringctl.activities.notify import NotifyActivities, NotifyInput
    from ringctl.activities.region import RegionActivities
    from ringctl.activities.schedule import CheckWindowInput, check_window
    from ringctl.core.constants import (
        COMMAND_EXPIRED,
        COMMAND_REJECTED,
        PATCH_INTERRUPTS_WIN,
        PATCH_PUBLISH_ON_CHANGE,
        SA_RING,
        SA_STATE,
    )
    from ringctl.core.errors import SigningError
    from ringctl.core.notifications import NotificationEvent, Webhook, notifications_for
    from ringctl.core.plan import Gate, OnFailure, Region, Ring
    from ringctl.core.signing import ApprovalClaim
    from ringctl.providers.models import DeployInput, RolloutState, Target, UndoRecord
    from ringctl.workflows.models import (
        AbortRequest,
        Approval,
        ApproveRequest,
        Command,
        CommandResult,
        Event,
        Override,
        PastRelease,
        PauseRequest,
        RegionState,
        RegionStatus,
        ReleaseInput,
        ReleaseState,
        ReleaseStatus,
        ResumeRequest,
        RingState,
        RingStatus,
        RollbackRequest,
    )

DEPLOY_TIMEOUT = timedelta(minutes=2)
#: Deploy, rollout wait, rollback and gate activities heartbeat every second: a worker lost mid-call is noticed
#: within this timeout, and the call is retried on another worker.
REGION_CALL_HEARTBEAT = timedelta(seconds=5)
#: Added to the plan's Prometheus timeout to bound one gate evaluation (all its queries run at once).
GATE_TIMEOUT_MARGIN = timedelta(seconds=10)
#: Gate evaluations: a worker lost mid-evaluation is retried; Prometheus errors are missing data, not failures.
GATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)
ROLLBACK_TIMEOUT = timedelta(minutes=2)
#: Deploy and gate calls: a few retries with backoff, then the region or evaluation fails cleanly.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5)
#: Rollback matters more than anything else: keep trying longer.
ROLLBACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=20
)
#: Gate results kept per ring for ``status`` (older ones are dropped; failures stay in the event log).
GATE_RESULTS_KEPT = 200
WINDOW_CHECK_TIMEOUT = timedelta(seconds=30)
NOTIFY_TIMEOUT = timedelta(seconds=30)
#: A webhook gets a few quick tries; one that keeps failing gets a single try per later message.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)
NOTIFY_RETRY_DOWN = RetryPolicy(maximum_attempts=1)
#: How long a finished release waits for its last notifications before it closes anyway.
NOTIFY_FLUSH = timedelta(seconds=30)


#: What a release shows from the moment a rollback or abort is accepted until it ends.
_INTERRUPT_STATES = (ReleaseState.ROLLING_BACK, ReleaseState.ABORTING)


def _webhook_name(webhook: Webhook, index: int) -> str:
    return webhook.name or f"webhook #{index}"


class RingFailed(Exception):
    """A ring's rollout or gate failed; the ring's ``on_failure`` decides what happens next."""


def _rejected(message: str, kind: str = COMMAND_REJECTED) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error)


@workflow.defn
class RingRelease:
    """Release one service version: staging, then each ring in order, gated; roll back or halt on failure."""

    @workflow.init
    def __init__(self, request: ReleaseInput) -> None:
        self._request = request
        self._stages = request.plan.stages
        self._service = request.plan.service(request.service)
        now = workflow.now()
        self._status = ReleaseStatus(
            release_id=request.release_id,
            service=request.service,
            version=request.version,
            image=request.image,
            state=ReleaseState.PENDING,
            started_by=request.started_by,
            started_at=now,
            updated_at=now,
            rings=[
                RingStatus(
                    name=ring.name,
                    approval_required=ring.approval.required,
                    regions=[RegionStatus(name=region.name) for region in ring.regions],
                )
                for ring in self._stages
            ],
        )
        self._state = ReleaseState.PENDING
        self._published: tuple[str, str] | None = None
        self._paused = False
        self._resume_requested = False
        #: Accepted rollback and abort: either ends the release's progress for good (see ``_checkpoint``).
        self._rollback_request: RollbackRequest | None = None
        self._abort_request: AbortRequest | None = None
        self._rollback_ran = False
        #: Rings whose error-budget check is waiting (exhausted or missing data): an override may release them.
        self._budget_waiting: set[str] = set()
        self._deploys_in_flight: set[asyncio.Task[None]] = set()
        #: Notifications waiting to be sent, one ordered queue per webhook (by its index in the plan).
        self._outbox: dict[int, list[NotifyInput]] = {}
        self._webhook_down: set[int] = set()
        #: The running delivery task of each webhook with queued notifications.
        self._deliveries: dict[int, asyncio.Task[None]] = {}
        if request.rollback_of is not None:
            self._status = request.rollback_of.status.model_copy(deep=True)
            self._state = self._status.state

    @workflow.run
    async def run(self, request: ReleaseInput) -> ReleaseStatus:
        """Drive the release to an end state and return its final status."""
        if request.rollback_of is not None:
            return await self._roll_back_ended(request.rollback_of)
        detail = f"{request.service} {request.version} ({request.image})"
        if request.speed != 1:
            detail += f"; waits shortened by release start --speed {request.speed:g}"
        self._event(request.started_by, "start", detail=detail)
        self._notify(NotificationEvent.STARTED, f"{request.release_id} started by {request.started_by}")
        progress = asyncio.create_task(self._advance())
        await workflow.wait_condition(lambda: progress.done() or self._interrupted)
        if not progress.done():
            progress.cancel()  # cancels the activity or wait in progress; nothing new starts (``_checkpoint``)
        failure: str | None = None
        with contextlib.suppress(asyncio.CancelledError):
            failure = await progress
        if self._deploys_in_flight and workflow.patched(PATCH_INTERRUPTS_WIN):
            # A deploy already sent is awaited, never abandoned: its undo record must not be lost.
            await asyncio.gather(*self._deploys_in_flight, return_exceptions=True)
        abort = self._abort_request
        if self._rollback_request is not None:
            await self._run_requested_rollback()
        elif abort is not None:
            self._set_state(ReleaseState.ABORTED, f"aborted by {abort.by}: {abort.reason}")
            self._notify(NotificationEvent.ABORTED, f"{request.release_id} aborted by {abort.by}: {abort.reason}")
        elif failure is not None:
            await self._rollback_all(failure)
        else:
            self._set_state(ReleaseState.COMPLETED, "every ring promoted")
            self._event("ringctl", "complete")
            self._notify(NotificationEvent.COMPLETED, f"{request.release_id} completed: every ring promoted")
        await self._finish()
        return self._status

    async def _run_requested_rollback(self) -> None:
        request = self._rollback_request
        assert request is not None
        self._rollback_ran = True
        await self._rollback_all(f"rollback requested by {request.by}: {request.reason}")

    async def _finish(self) -> None:
        """Send the last notifications; a rollback accepted meanwhile (racing an abort or the end) still runs."""
        while True:
            await self._flush_notifications()
            if not self._rollback_pending:
                return
            await self._run_requested_rollback()

    async def _roll_back_ended(self, past: PastRelease) -> ReleaseStatus:
        """Roll back a release that has ended (completed, aborted, or failed to roll back), as a new run."""
        self._status.rollback_until = None
        self._rollback_ran = True
        self._event(past.by, "rollback", detail=past.reason)
        await self._rollback_all(f"rollback requested by {past.by}: {past.reason}")
        await self._finish()
        return self._status

    # -- queries and updates -------------------------------------------------

    @workflow.query
    def status(self) -> ReleaseStatus:
        """The release's state, rings, regions, gate results and event log."""
        return self._status

    @workflow.update
    def approve(self, request: ApproveRequest) -> CommandResult:
        """Approve promotion into a ring that is waiting for approval, or override its exhausted error budget."""
        ring = self._ring_status(request.ring)
        if request.override_budget:
            ring.budget_override = Override(by=request.by, reason=request.reason, at=workflow.now())
            self._event(request.by, "override_budget", ring=request.ring, detail=request.reason)
            return self._result(f"error budget of ring {request.ring} overridden by {request.by}")
        if request.override_window:
            ring.window_override = Override(by=request.by, reason=request.reason, at=workflow.now())
            self._event(request.by, "override_window", ring=request.ring, detail=request.reason)
            return self._result(f"deployment window of ring {request.ring} overridden by {request.by}")
        ring.approvals.append(Approval(approver=request.by, comment=request.comment, at=workflow.now()))
        self._event(request.by, "approve", ring=request.ring, detail=request.comment)
        return self._result(f"ring {request.ring} approved by {request.by}")

    @approve.validator
    def _check_approve(self, request: ApproveRequest) -> None:
        self._check_command(request)
        self._check_not_interrupted()
        names = [ring.name for ring in self._stages]
        if request.ring not in names:
            raise _rejected(f"unknown ring {request.ring!r}; the rings are {', '.join(names)}")
        ring = self._ring_status(request.ring)
        spec = self._stages[names.index(request.ring)]
        approvers = self._request.plan.approvers_for(spec)
        if approvers and request.by not in approvers:
            raise _rejected(f"{request.by!r} may not approve ring {request.ring!r}; approvers: {', '.join(approvers)}")
        if request.by == self._request.started_by and not spec.approval.allow_self_approval:
            raise _rejected(
                f"{request.by!r} started release {self._request.release_id} and may not approve it "
                "(separation of duties)"
            )
        self._check_signature(request)
        if request.override_budget and request.override_window:
            raise _rejected("override the error budget and the window in two separate commands")
        if request.override_window:
            if ring.state is not RingState.AWAITING_WINDOW:
                raise _rejected(f"ring {request.ring!r} is not waiting for its deployment window (it is {ring.state})")
            if not request.reason.strip():
                raise _rejected("a window override needs a reason (--reason)")
            return
        if request.override_budget:
            if request.ring not in self._budget_waiting:
                raise _rejected(
                    f"ring {request.ring!r} is not waiting for an error-budget override (it is {ring.state})"
                )
            if not request.reason.strip():
                raise _rejected("an error-budget override needs a reason (--reason)")
            return
        if ring.state is not RingState.AWAITING_APPROVAL:
            raise _rejected(f"ring {request.ring!r} is not waiting for approval (it is {ring.state})")
        if any(a.approver == request.by for a in ring.approvals):
            raise _rejected(f"{request.by!r} has already approved ring {request.ring!r}")

    def _check_signature(self, request: ApproveRequest) -> None:
        """With ``approvals.signing: required``, the approval must carry a valid Ed25519 signature."""
        signing = self._request.plan.approvals
        if signing.signing != "required":
            return
        if request.signed_at is None or request.signature is None:
            raise _rejected(
                f"approval by {request.by!r} is not signed; this plan requires signed approvals "
                "(ringctl approve --key ...)"
            )
        claim = ApprovalClaim(
            release_id=self._request.release_id,
            ring=request.ring,
            version=self._request.version,
            approver=request.by,
            signed_at=request.signed_at,
        )
        try:
            signing.verify(claim, request.signature, now=workflow.now())
        except SigningError as error:
            raise _rejected(str(error)) from None

    @workflow.update
    def rollback(self, request: RollbackRequest) -> CommandResult:
        """Roll back every region this release changed, in reverse ring order; wins over everything in flight.

        Accepted in any state, also while an abort winds down or the release is ending.
        """
        self._rollback_request = request
        self._event(request.by, "rollback", detail=request.reason)
        self._show_interrupt(ReleaseState.ROLLING_BACK, f"rollback requested by {request.by}: {request.reason}")
        return self._result("rollback started")

    @rollback.validator
    def _check_rollback(self, request: RollbackRequest) -> None:
        self._check_command(request, ended_ok=True)
        if self._rollback_request is not None or self._state in (ReleaseState.ROLLING_BACK, ReleaseState.ROLLED_BACK):
            raise _rejected(f"release {self._request.release_id} is already {self._state}")

    @workflow.update
    def pause(self, request: PauseRequest) -> CommandResult:
        """Stop advancing: no new deploy or promotion until resumed; gates keep running."""
        self._paused = True
        self._event(request.by, "pause", detail=request.reason)
        self._publish()
        return self._result("paused")

    @pause.validator
    def _check_pause(self, request: PauseRequest) -> None:
        self._check_command(request)
        self._check_not_interrupted()
        if self._paused:
            raise _rejected(f"release {self._request.release_id} is already paused")

    @workflow.update
    def resume(self, request: ResumeRequest) -> CommandResult:
        """Resume a paused release, or retry the halted ring."""
        if self._paused:
            self._paused = False
            message = "resumed"
        else:
            self._resume_requested = True
            message = "retrying the halted ring"
        self._event(request.by, "resume", detail=request.reason)
        self._publish()
        return self._result(message)

    @resume.validator
    def _check_resume(self, request: ResumeRequest) -> None:
        self._check_command(request)
        self._check_not_interrupted()
        if not self._paused and self._state is not ReleaseState.HALTED:
            raise _rejected(f"release {self._request.release_id} is {self._state}: neither paused nor halted")

    @workflow.update
    def abort(self, request: AbortRequest) -> CommandResult:
        """End the release where it is, without rolling back."""
        self._abort_request = request
        self._event(request.by, "abort", detail=request.reason)
        self._show_interrupt(ReleaseState.ABORTING, f"abort requested by {request.by}: {request.reason}")
        return self._result("aborting; regions stay as they are")

    @abort.validator
    def _check_abort(self, request: AbortRequest) -> None:
        self._check_command(request)
        self._check_not_interrupted()
        if self._state is ReleaseState.ROLLING_BACK:
            raise _rejected(f"release {self._request.release_id} is already {self._state}")

    def _check_command(self, command: Command, *, ended_ok: bool = False) -> None:
        """Refuse a command for another release, one past its deadline, or (unless ``ended_ok``) an ended release."""
        if command.release_id is not None and command.release_id != self._request.release_id:
            raise _rejected(
                f"release {command.release_id} is not running; the current release of "
                f"{self._request.service} is {self._request.release_id}"
            )
        if command.deadline is not None and workflow.now() > command.deadline:
            raise _rejected(
                f"this command expired at {command.deadline:%H:%M:%S} UTC before a worker took it; it was not applied",
                COMMAND_EXPIRED,
            )
        if self._state.is_final and not (ended_ok and self._state.can_roll_back):
            raise _rejected(f"release {self._request.release_id} has ended ({self._state})")

    def _check_not_interrupted(self) -> None:
        if self._interrupted:
            raise _rejected(f"release {self._request.release_id} is {self._state}")

    @property
    def _interrupted(self) -> bool:
        """Whether an accepted rollback or abort has ended the release's progress."""
        return self._rollback_request is not None or self._abort_request is not None

    @property
    def _rollback_pending(self) -> bool:
        return self._rollback_request is not None and not self._rollback_ran

    def _show_interrupt(self, state: ReleaseState, reason: str) -> None:
        """Show an accepted rollback or abort at once (runs replayed from before this change did not)."""
        if workflow.patched(PATCH_INTERRUPTS_WIN):
            self._set_state(state, reason)

    def _stop_if_interrupted(self) -> None:
        """End the release's progress here if a rollback or abort was accepted."""
        if self._interrupted:
            raise asyncio.CancelledError("release interrupted by rollback or abort")

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait until ``condition`` holds (``TimeoutError`` after ``timeout``); a rollback or abort ends the wait."""
        await workflow.wait_condition(lambda: condition() or self._interrupted, timeout=timeout)
        self._stop_if_interrupted()

    def _failure_of(self, error: ActivityError) -> str:
        """Why an activity failed; its cancellation (the release was interrupted) is re-raised, never a failure."""
        if isinstance(error.cause, ActivityCancelled) or self._interrupted:
            raise asyncio.CancelledError("release interrupted by rollback or abort") from error
        return _cause(error)

    # -- progress --------------------------------------------------------------

    async def _advance(self) -> str | None:
        """Run every ring; return the failure to roll back for, or None when all are promoted."""
        for index, ring in enumerate(self._stages):
            while True:
                try:
                    await self._run_ring(index, ring)
                    break
                except RingFailed as failure:
                    reason = f"ring {ring.name} failed: {failure}"
                    self._ring_status(ring.name).state = RingState.FAILED
                    self._ring_status(ring.name).message = str(failure)
                    self._event("ringctl", "ring_failed", ring=ring.name, detail=str(failure))
                    if ring.on_failure is OnFailure.ROLLBACK:
                        return reason
                    await self._halt(ring, reason)
        return None

    async def _run_ring(self, index: int, ring: Ring) -> None:
        status = self._status.rings[index]
        self._status.current_ring = ring.name
        await self._checkpoint()
        needed = ring.approval.min_approvals
        if ring.approval.required and len(status.approvals) < needed:
            status.state = RingState.AWAITING_APPROVAL
            approvers = ", ".join(self._request.plan.approvers_for(ring)) or "anyone"
            waiting = f"waiting for {needed} approval{'s' if needed > 1 else ''} of ring {ring.name} ({approvers})"
            self._set_state(ReleaseState.AWAITING_APPROVAL, waiting)
            self._event("ringctl", "await_approval", ring=ring.name, detail=waiting)
            self._notify(NotificationEvent.AWAITING_APPROVAL, f"{self._request.release_id}: {waiting}", ring=ring.name)
            await self._wait(lambda: len(status.approvals) >= needed)
            await self._checkpoint()
        if ring.windows or ring.freezes or ring.holidays:
            await self._wait_for_window(index, ring)
            await self._checkpoint()
        budget_gates = self._request.plan.budget_gates_for(self._request.service, ring)
        if budget_gates and status.budget_override is None:
            await self._check_budget(index, ring, budget_gates)
            await self._checkpoint()
        if status.started_at is None:
            status.started_at = workflow.now()
        status.state = RingState.DEPLOYING
        status.message = ""
        self._set_state(ReleaseState.DEPLOYING, f"deploying ring {ring.name}")
        await self._deploy_ring(index, ring)
        status.state = RingState.BAKING
        self._set_state(ReleaseState.BAKING, f"baking ring {ring.name} for {ring.bake}")
        await self._bake(index, ring)
        self._stop_if_interrupted()
        for region in status.regions:
            self._set_region(region, RegionState.PROMOTED)
        status.state = RingState.PROMOTED
        status.finished_at = workflow.now()
        self._event("ringctl", "promote", ring=ring.name)
        self._notify(
            NotificationEvent.RING_PROMOTED, f"{self._request.release_id}: ring {ring.name} promoted", ring=ring.name
        )

    async def _deploy_ring(self, index: int, ring: Ring) -> None:
        """Deploy and verify the ring's regions, at most ``max_parallel`` at once; stop starting on a failure."""
        slots = asyncio.Semaphore(ring.max_parallel)
        failures: list[str] = []

        async def one(region: Region, status: RegionStatus) -> None:
            async with slots:
                if failures:
                    return
                await self._checkpoint()
                try:
                    self._set_region(status, RegionState.DEPLOYING)
                    await self._deploy_region(region)
                    self._set_region(status, RegionState.VERIFYING)
                    rollout = await workflow.execute_activity_method(
                        RegionActivities.wait_rollout,
                        WaitRolloutInput(
                            target=self._target(region),
                            release_id=self._request.release_id,
                            timeout=ring.rollout_timeout,
                        ),
                        start_to_close_timeout=ring.rollout_timeout + timedelta(minutes=1),
                        heartbeat_timeout=REGION_CALL_HEARTBEAT,
                        retry_policy=RETRY,
                    )
                except ActivityError as error:
                    message = self._failure_of(error)
                else:
                    if rollout.state is RolloutState.COMPLETE:
                        self._set_region(status, RegionState.HEALTHY, rollout.message)
                        return
                    message = rollout.message
                self._set_region(status, RegionState.FAILED, message)
                failures.append(f"{region.name}: {message}")

        statuses = self._status.rings[index].regions
        await asyncio.gather(*(one(region, status) for region, status in zip(ring.regions, statuses, strict=True)))
        if failures:
            raise RingFailed("; ".join(failures))

    async def _deploy_region(self, region: Region) -> None:
        """Deploy to one region, shielded so a rollback never loses the undo record of a deploy in flight."""
        task = asyncio.create_task(self._run_deploy(region))
        self._deploys_in_flight.add(task)
        task.add_done_callback(self._deploys_in_flight.discard)
        await asyncio.shield(task)

    async def _run_deploy(self, region: Region) -> None:
        undo = await workflow.execute_activity_method(
            RegionActivities.deploy,
            DeployInput(
                target=self._target(region),
                release_id=self._request.release_id,
                service=self._request.service,
                version=self._request.version,
                image=self._request.image,
            ),
            start_to_close_timeout=DEPLOY_TIMEOUT,
            heartbeat_timeout=REGION_CALL_HEARTBEAT,
            retry_policy=RETRY,
        )
        if not any(record.target.region == region.name for record in self._status.undo_records):
            self._status.undo_records.append(undo)
        detail = f"{undo.previous_image or '-'} -> {undo.new_image}" if undo.changed else f"already on {undo.new_image}"
        self._event("ringctl", "deploy", region=region.name, detail=detail)

    async def _check_budget(self, index: int, ring: Ring, gates: list[Gate]) -> None:
        """Before deploying ``ring``: wait while an SLO's error budget is exhausted in its regions.

        Exhausted (or missing data under ``missing_data: fail``): wait for
        ``approve --override-budget``. Missing data under ``hold``: re-check every
        interval until data returns, or an override. ``pass``: proceed.
        """
        status = self._status.rings[index]
        interval = min(gate.interval for gate in gates)
        self._budget_waiting.add(ring.name)
        announced: GateDecision | None = None
        try:
            while status.budget_override is None:
                evaluation = await self._evaluate(index, ring, gates)
                verdict = evaluation.decision if evaluation is not None else GateDecision.HOLD
                if verdict is GateDecision.PASS:
                    if announced is not None:
                        self._event("ringctl", "budget_ok", ring=ring.name)
                    return
                bad = [r for r in (evaluation.results if evaluation else []) if r.decision is verdict]
                detail = "; ".join(f"{r.gate} in {r.region}: {r.reason}" for r in bad) or "gate evaluation failed"
                if verdict is GateDecision.FAIL:
                    status.state = RingState.AWAITING_BUDGET_OVERRIDE
                    self._set_state(
                        ReleaseState.AWAITING_BUDGET_OVERRIDE,
                        f"ring {ring.name}: error budget exhausted ({detail}); waiting for "
                        f"`ringctl approve --ring {ring.name} --override-budget --reason ...`",
                    )
                    self._event("ringctl", "budget_exhausted", ring=ring.name, detail=detail)
                    await self._wait(lambda: status.budget_override is not None)
                    break
                status.state = RingState.HOLDING
                self._set_state(ReleaseState.HOLDING, f"ring {ring.name}: error budget unknown (missing data); holding")
                if announced is not GateDecision.HOLD:
                    self._event("ringctl", "budget_hold", ring=ring.name, detail=detail)
                announced = verdict
                with contextlib.suppress(TimeoutError):
                    await self._wait(lambda: status.budget_override is not None, timeout=interval)
        finally:
            self._budget_waiting.discard(ring.name)

    async def _bake(self, index: int, ring: Ring) -> None:
        """Wait ``ring.bake``, evaluating gates every interval; fail on the first breach.

        Time spent paused or holding on missing data does not count toward the
        bake, and the bake ends only after the gates' ``consecutive_healthy``
        passing evaluations in a row (a hold resets the count).
        """
        status = self._status.rings[index]
        gates = self._request.plan.gates_for(self._request.service, ring)
        remaining = ring.bake
        interval = min((gate.interval for gate in gates), default=ring.bake)
        required = max((gate.consecutive_healthy for gate in gates), default=0)
        streak = 0
        holding = False
        while remaining > timedelta(0) or streak < required or self._paused:
            if self._paused and not gates:
                await self._checkpoint()
                continue
            counted = not self._paused and not holding and remaining > timedelta(0)
            step = min(interval, remaining) if counted else interval
            if step > timedelta(0):
                await workflow.sleep(step)
            if counted:
                remaining = max(remaining - step, timedelta(0))
            if not gates:
                continue
            evaluation = await self._evaluate(index, ring, gates)
            verdict = evaluation.decision if evaluation is not None else GateDecision.HOLD
            if evaluation is not None and verdict is GateDecision.FAIL:
                failed = [r for r in evaluation.results if r.decision is GateDecision.FAIL]
                detail = "; ".join(f"{r.gate} in {r.region}: {r.reason}" for r in failed)
                self._event("ringctl", "gate_failed", ring=ring.name, detail=detail)
                self._notify(
                    NotificationEvent.GATE_FAILED,
                    f"{self._request.release_id}: ring {ring.name} gate failed: {detail}",
                    ring=ring.name,
                )
                raise RingFailed(f"gate breach: {detail}")
            streak = streak + 1 if verdict is GateDecision.PASS else 0
            was_holding, holding = holding, verdict is GateDecision.HOLD
            if holding and not was_holding and evaluation is not None:
                held = [r for r in evaluation.results if r.decision is GateDecision.HOLD]
                self._event(
                    "ringctl",
                    "hold",
                    ring=ring.name,
                    detail="; ".join(f"{r.gate} in {r.region}: {r.reason}" for r in held),
                )
            elif was_holding and not holding:
                self._event("ringctl", "hold_cleared", ring=ring.name)
            status.state = RingState.HOLDING if holding else RingState.BAKING
            self._set_state(
                ReleaseState.HOLDING if holding else ReleaseState.BAKING,
                f"ring {ring.name}: gates have missing data; holding" if holding else f"baking ring {ring.name}",
            )

    async def _evaluate(self, index: int, ring: Ring, gates: list[Gate]) -> GateEvaluation | None:
        """Evaluate ``gates`` in the ring's regions and record the results; ``None`` if the activity failed."""
        status = self._status.rings[index]
        timeout = self._request.plan.prometheus.timeout
        previous = {
            record.target.region: record.previous_image.rpartition(":")[2]
            for record in self._status.undo_records
            if record.previous_image
        }
        try:
            evaluation = await workflow.execute_activity_method(
                GateActivities.evaluate_gates,
                EvaluateGatesInput(
                    release_id=self._request.release_id,
                    service=self._request.service,
                    version=self._request.version,
                    previous_version=None,
                    ring=ring.name,
                    regions=ring.regions,
                    gates=gates,
                    prometheus_url=self._request.plan.prometheus.url,
                    previous_versions=previous,
                    timeout=timeout.total_seconds(),
                ),
                start_to_close_timeout=timeout + GATE_TIMEOUT_MARGIN,
                heartbeat_timeout=REGION_CALL_HEARTBEAT,
                retry_policy=GATE_RETRY,
            )
        except ActivityError as error:
            self._event("ringctl", "gate_error", ring=ring.name, detail=self._failure_of(error))
            return None
        status.gate_results = [*status.gate_results, *evaluation.results][-GATE_RESULTS_KEPT:]
        return evaluation

    async def _halt(self, ring: Ring, reason: str) -> None:
        """Wait for a human: ``resume`` retries the ring; ``rollback`` and ``abort`` interrupt the release."""
        self._ring_status(ring.name).state = RingState.HALTED
        self._resume_requested = False
        self._set_state(ReleaseState.HALTED, f"{reason}; waiting for resume, rollback or abort")
        self._event("ringctl", "halt", ring=ring.name, detail=reason)
        self._notify(NotificationEvent.HALTED, f"{self._request.release_id} halted: {reason}", ring=ring.name)
        await self._wait(lambda: self._resume_requested)
        self._resume_requested = False

    async def _wait_for_window(self, index: int, ring: Ring) -> None:
        """Wait durably until the ring's deployment window is open and no freeze applies, or an override."""
        status = self._status.rings[index]
        announced = False
        while status.window_override is None:
            try:
                check = await workflow.execute_local_activity(
                    check_window,
                    CheckWindowInput(schedule=ring.schedule, now=workflow.now()),
                    start_to_close_timeout=WINDOW_CHECK_TIMEOUT,
                )
            except ActivityError as error:
                raise RingFailed(f"deployment window check failed: {self._failure_of(error)}") from error
            if check.open:
                if announced:
                    self._event("ringctl", "window_open", ring=ring.name)
                break
            opens = f"opens {check.opens_at:%Y-%m-%d %H:%M} UTC" if check.opens_at else "does not open within a year"
            waiting = f"ring {ring.name}: {check.reason}; {opens}"
            status.state, status.waiting_until = RingState.AWAITING_WINDOW, check.opens_at
            self._set_state(ReleaseState.AWAITING_WINDOW, waiting)
            if not announced:
                self._event("ringctl", "await_window", ring=ring.name, detail=f"{check.reason}; {opens}")
                self._notify(
                    NotificationEvent.AWAITING_WINDOW, f"{self._request.release_id}: {waiting}", ring=ring.name
                )
                announced = True
            timeout = max(check.opens_at - workflow.now(), timedelta(seconds=1)) if check.opens_at else None
            with contextlib.suppress(TimeoutError):
                await self._wait(lambda: status.window_override is not None, timeout=timeout)
        status.waiting_until = None

    async def _checkpoint(self) -> None:
        """Before anything new starts: stop for good after a rollback or abort; block while paused."""
        self._stop_if_interrupted()
        if self._paused:
            await self._wait(lambda: not self._paused)

    # -- rollback ----------------------------------------------------------------

    async def _rollback_all(self, reason: str) -> None:
        """Undo every changed region, in reverse ring order, in parallel within a ring."""
        self._set_state(ReleaseState.ROLLING_BACK, reason)
        self._event("ringctl", "rollback_start", detail=reason)
        if self._deploys_in_flight:
            await asyncio.gather(*self._deploys_in_flight, return_exceptions=True)
        ring_of = {region.name: i for i, ring in enumerate(self._stages) for region in ring.regions}
        stuck: list[str] = []
        for index in sorted({ring_of[r.target.region] for r in self._status.undo_records}, reverse=True):
            ring_status = self._status.rings[index]
            ring_status.state = RingState.ROLLING_BACK
            records = [r for r in self._status.undo_records if ring_of[r.target.region] == index]
            outcomes = await asyncio.gather(*(self._rollback_region(index, record) for record in records))
            stuck += [region for region in outcomes if region is not None]
            ring_status.state = RingState.ROLLED_BACK
        if stuck:
            self._set_state(ReleaseState.FAILED, f"{reason}; rollback could not finish in {', '.join(stuck)}")
            self._event("ringctl", "rollback_failed", detail=", ".join(stuck))
            self._notify(NotificationEvent.FAILED, f"{self._request.release_id}: {self._status.reason}; needs a human")
        else:
            self._set_state(ReleaseState.ROLLED_BACK, reason)
            self._event("ringctl", "rolled_back")
            self._notify(NotificationEvent.ROLLED_BACK, f"{self._request.release_id} rolled back: {reason}")

    async def _rollback_region(self, index: int, undo: UndoRecord) -> str | None:
        """Roll one region back; return its name if it could not be."""
        status = next(r for r in self._status.rings[index].regions if r.name == undo.target.region)
        self._set_region(status, RegionState.ROLLING_BACK)
        try:
            result = await workflow.execute_activity_method(
                RegionActivities.rollback,
                RollbackInput(undo=undo),
                start_to_close_timeout=ROLLBACK_TIMEOUT,
                heartbeat_timeout=REGION_CALL_HEARTBEAT,
                retry_policy=ROLLBACK_RETRY,
            )
        except ActivityError as error:
            self._set_region(status, RegionState.FAILED, f"rollback failed: {_cause(error)}")
            self._event("ringctl", "region_rollback_failed", region=undo.target.region, detail=_cause(error))
            return undo.target.region
        self._set_region(status, RegionState.ROLLED_BACK, result.message)
        status.image = result.image
        self._event("ringctl", "region_rolled_back", region=undo.target.region, detail=f"now {result.image}")
        return None

    # -- bookkeeping ---------------------------------------------------------------

    def _target(self, region: Region) -> Target:
        return Target.of(self._service, region)

    def _ring_status(self, name: str) -> RingStatus:
        return next(ring for ring in self._status.rings if ring.name == name)

    def _set_region(self, status: RegionStatus, state: RegionState, message: str = "") -> None:
        status.state, status.message, status.since = state, message, workflow.now()
        if state is RegionState.HEALTHY:
            status.image = self._request.image

    def _set_state(self, state: ReleaseState, reason: str) -> None:
        winding_down = self._interrupted and not (state.is_final or state in _INTERRUPT_STATES)
        if winding_down and workflow.patched(PATCH_INTERRUPTS_WIN):
            return  # progress after an accepted rollback or abort: keep showing that
        self._state = state
        self._status.reason = reason
        if state in (ReleaseState.COMPLETED, ReleaseState.ABORTED, ReleaseState.FAILED):
            self._status.rollback_until = workflow.now() + self._request.plan.rollback_retention
        self._publish()

    def _publish(self) -> None:
        """Mirror the visible state into the status and the search attributes."""
        paused = self._paused and not self._state.is_final and not self._interrupted
        visible = ReleaseState.PAUSED if paused else self._state
        self._status.state = visible
        self._status.paused = self._paused
        self._status.updated_at = workflow.now()
        published = (str(visible), self._status.current_ring or "")
        if published == self._published and workflow.patched(PATCH_PUBLISH_ON_CHANGE):
            return  # nothing new to index (runs started before this change upsert every time)
        self._published = published
        workflow.upsert_search_attributes([SA_STATE.value_set(published[0]), SA_RING.value_set(published[1])])

    def _event(
        self, actor: str, action: str, ring: str | None = None, region: str | None = None, detail: str = ""
    ) -> None:
        event = Event(at=workflow.now(), actor=actor, action=action, ring=ring, region=region, detail=detail)
        self._status.events.append(event)
        workflow.logger.info("%s %s %s", action, ring or region or "", detail, extra={"actor": actor})

    # -- notifications -------------------------------------------------------------

    def _notify(self, event: NotificationEvent, text: str, ring: str | None = None) -> None:
        """Queue a notification for every webhook subscribed to ``event``; never blocks the release."""
        config = self._request.plan.notifications
        subscribed = notifications_for(config, event)
        for index, webhook in enumerate(config.webhooks):
            if webhook not in subscribed:
                continue
            self._outbox.setdefault(index, []).append(
                NotifyInput(
                    webhook=webhook,
                    event=event,
                    release_id=self._request.release_id,
                    service=self._request.service,
                    version=self._request.version,
                    ring=ring,
                    text=text,
                    at=workflow.now(),
                    actor=None,
                )
            )
            if index not in self._deliveries:
                self._deliveries[index] = asyncio.create_task(self._deliver(index))

    async def _deliver(self, index: int) -> None:
        """Send one webhook's queued notifications in order; a failure is logged, never raised."""
        queue = self._outbox[index]
        while queue:
            request = queue.pop(0)
            try:
                await workflow.execute_activity_method(
                    NotifyActivities.notify,
                    request,
                    start_to_close_timeout=NOTIFY_TIMEOUT,
                    retry_policy=NOTIFY_RETRY_DOWN if index in self._webhook_down else NOTIFY_RETRY,
                )
                self._webhook_down.discard(index)
            except ActivityError as error:
                self._webhook_down.add(index)
                workflow.logger.warning(
                    "notification %s to %s failed: %s",
                    request.event,
                    _webhook_name(request.webhook, index),
                    _cause(error),
                )
        del self._deliveries[index]

    async def _flush_notifications(self) -> None:
        """Give queued notifications a bounded time to go out before the workflow closes."""
        if self._deliveries:
            try:
                await workflow.wait_condition(
                    lambda: not self._deliveries or self._rollback_pending, timeout=NOTIFY_FLUSH
                )
            except TimeoutError:
                workflow.logger.warning("closing with %d webhook queues not delivered", len(self._deliveries))

    def _result(self, message: str) -> CommandResult:
        return CommandResult(release_id=self._request.release_id, state=self._status.state, message=message)


__all__ = ["RingRelease"]
