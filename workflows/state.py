"""The state of one ``RingRelease`` run, and the bookkeeping every part of the workflow shares.

:class:`Release` holds the status (the one place the release's state lives:
``status.state`` is where the release is, ``status.paused`` whether a person
paused it; what ``status`` and the search attributes show is derived from both
by :meth:`Release.shown_state`), the accepted rollback or abort, the event log
and the notification outbox. The workflow class, the gating loops and the
rollback all act through it. Deterministic: only ``workflow.*`` APIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import MetricCounter, SearchAttributeUpdate
from temporalio.exceptions import ActivityError
from temporalio.exceptions import CancelledError as ActivityCancelled

with workflow.unsafe.imports_passed_through():
    from ringctl.core.constants import (
        ANYONE,
        HISTORY_BYTES,
        HISTORY_EVENTS,
        MEMO_WAITING,
        PATCH_BOUNDED_HISTORY,
        PATCH_INDEX_WAITING,
        PATCH_INTERRUPTS_WIN,
        PATCH_PUBLISH_ON_CHANGE,
        SYSTEM_ACTOR,
    )
    from ringctl.core.errors import root_cause
    from ringctl.core.notifications import NotificationEvent
    from ringctl.core.plan import Region
    from ringctl.core.searchattributes import SA_RING, SA_STATE, SA_WAITING_FOR
    from ringctl.providers.models import Target
    from ringctl.workflows.commands import Situation
    from ringctl.workflows.models import (
        AbortRequest,
        CommandResult,
        Continued,
        Event,
        Phase,
        RegionState,
        RegionStatus,
        ReleaseInput,
        ReleaseState,
        ReleaseStatus,
        RingState,
        RingStatus,
        RollbackRequest,
    )
    from ringctl.workflows.outbox import Outbox

#: What a release shows from the moment a rollback or abort is accepted until it ends.
INTERRUPT_STATES = (ReleaseState.ROLLING_BACK, ReleaseState.ABORTING)
#: Release states that start the rollback retention.
_RETAINED = (ReleaseState.COMPLETED, ReleaseState.ABORTED, ReleaseState.FAILED)
_WAITING_RINGS = (RingState.AWAITING_APPROVAL, RingState.AWAITING_BUDGET_OVERRIDE, RingState.AWAITING_WINDOW)


class RingFailed(Exception):
    """A ring's rollout or gate failed; the ring's ``on_failure`` decides what happens next."""


class Release:
    """One release run: its input, status, accepted interrupts, and notification outbox."""

    def __init__(self, request: ReleaseInput) -> None:
        self.request = request
        self.stages = request.plan.stages
        self.service = request.plan.service(request.service)
        if request.rollback_of is not None:
            self.status = request.rollback_of.status.model_copy(deep=True)
            self.status.paused = False  # the new run rolls back; nothing of it is paused
        elif request.continued is not None:
            self.status = request.continued.status.model_copy(deep=True)
        else:
            now = workflow.now()
            self.status = ReleaseStatus(
                release_id=request.release_id,
                service=request.service,
                version=request.version,
                image=request.image,
                state=ReleaseState.PENDING,
                started_by=request.started_by,
                started_at=now,
                updated_at=now,
                metadata=request.metadata,
                rings=[
                    RingStatus(
                        name=ring.name,
                        approval_required=ring.approval.required,
                        regions=[RegionStatus(name=region.name) for region in ring.regions],
                    )
                    for ring in self.stages
                ],
            )
        self.outbox = Outbox(request)
        self._counters: dict[str, MetricCounter] = {}
        #: Accepted rollback and abort: either ends the release's progress for good (see :meth:`checkpoint`).
        self.rollback_request: RollbackRequest | None = None
        self.abort_request: AbortRequest | None = None
        self.rollback_ran = False
        #: A person resumed the halted ring, and what that does there (the resume command's answer).
        self.resume_requested = False
        self.resume_means = "retrying the halted ring"
        #: Deploys sent and not yet answered: a rollback waits for them, so no undo record is lost.
        self.deploys_in_flight: set[asyncio.Task[None]] = set()
        #: Rings whose error-budget or alarm check is waiting: a budget override may release them.
        self.budget_waiting: set[str] = set()
        self._published: tuple[str, str, tuple[str, ...]] | None = None
        if request.continued is not None:  # the previous run indexed these; the new run inherits them
            self._published = (str(self.shown_state()), self.status.current_ring or "", tuple(self.waiting_for()))

    # -- the release's state -------------------------------------------------------

    @property
    def state(self) -> ReleaseState:
        """Where the release is (never ``paused``: see :meth:`shown_state`)."""
        return self.status.state

    @property
    def paused(self) -> bool:
        return self.status.paused

    @property
    def interrupted(self) -> bool:
        """Whether an accepted rollback or abort has ended the release's progress."""
        return self.rollback_request is not None or self.abort_request is not None

    @property
    def rollback_pending(self) -> bool:
        return self.rollback_request is not None and not self.rollback_ran

    def shown_state(self) -> ReleaseState:
        """What ``status`` and the search attributes show: ``paused`` while paused and still progressing."""
        if self.paused and not self.state.is_final and not self.interrupted:
            return ReleaseState.PAUSED
        return self.state

    def shown_status(self) -> ReleaseStatus:
        """The status as ``ringctl status`` shows it."""
        return self.status.model_copy(update={"state": self.shown_state()})

    def set_state(self, state: ReleaseState, reason: str) -> None:
        """Move the release to ``state`` for ``reason``; after an accepted rollback or abort, only toward its end."""
        winding_down = self.interrupted and not (state.is_final or state in INTERRUPT_STATES)
        if winding_down and workflow.patched(PATCH_INTERRUPTS_WIN):
            return  # progress after an accepted rollback or abort: keep showing that
        self.status.state = state
        self.status.reason = reason
        if state in _RETAINED:
            self.status.rollback_until = workflow.now() + self.request.plan.rollback_retention
        if state.is_final:
            self._close_waits()
        self.publish()

    def _close_waits(self) -> None:
        """Rings still waiting when the release ends never start: show them so, not as waiting."""
        for ring in self.status.rings:
            if ring.state in _WAITING_RINGS:
                ring.state, ring.waiting_until = RingState.PENDING, None
                ring.message = f"not started: the release {self.status.state.replace('_', ' ')}"

    def set_paused(self, paused: bool) -> None:
        self.status.paused = paused
        self.publish()

    def show_interrupt(self, state: ReleaseState, reason: str) -> None:
        """Show an accepted rollback or abort at once (runs replayed from before this change did not)."""
        if workflow.patched(PATCH_INTERRUPTS_WIN):
            self.set_state(state, reason)

    def waiting_for(self) -> list[str]:
        """Who may act on what the release waits for (approvers yet to approve, groups, or ``*``); [] if not waiting."""
        state, current = self.shown_state(), self.status.current_ring
        spec = next((ring for ring in self.stages if ring.name == current), None)
        if not state.waits_for_a_person or spec is None:
            return []
        if not spec.approval.approvers:
            return [ANYONE]
        done = (
            {a.approver for a in self.ring(spec.name).approvals} if state is ReleaseState.AWAITING_APPROVAL else set()
        )
        if not spec.approval.allow_self_approval:
            done.add(self.request.started_by)
        users = {user for user in self.request.plan.approvers_for(spec) if user not in done}
        groups = {name for name in spec.approval.approvers if name in self.request.plan.groups}
        return sorted(users | groups)

    def publish(self) -> None:
        """Stamp the status; index the shown state, ring and who may act on a wait (when they changed)."""
        self.status.updated_at = workflow.now()
        state = self.shown_state()
        workflow.set_current_details(f"**{state}** {self.status.reason}")  # the Temporal UI's "current details"
        indexing = workflow.patched(PATCH_INDEX_WAITING)
        waiting = tuple(self.waiting_for()) if indexing else ()
        published = (str(state), self.status.current_ring or "", waiting)
        if published == self._published and workflow.patched(PATCH_PUBLISH_ON_CHANGE):
            return  # nothing new to index (runs started before this change upsert every time)
        was_waiting = self._published is not None and bool(self._published[2])
        self._published = published
        attributes: list[SearchAttributeUpdate[Any]] = [
            SA_STATE.value_set(published[0]),
            SA_RING.value_set(published[1]),
        ]
        if indexing:
            attributes.append(SA_WAITING_FOR.value_set(list(waiting)))
            if waiting or was_waiting:
                workflow.upsert_memo({MEMO_WAITING: self.status.reason if waiting else None})
        workflow.upsert_search_attributes(attributes)

    def situation(self) -> Situation:
        """What a command is judged against, now."""
        return Situation(
            request=self.request,
            state=self.state,
            paused=self.paused,
            interrupted=self.interrupted,
            rollback_requested=self.rollback_request is not None,
            rings=self.status.rings,
            budget_waiting=frozenset(self.budget_waiting),
            now=workflow.now(),
        )

    def result(self, message: str) -> CommandResult:
        """What an accepted command answers."""
        return CommandResult(release_id=self.request.release_id, state=self.shown_state(), message=message)

    # -- rings, regions, events ------------------------------------------------------

    def ring(self, name: str) -> RingStatus:
        return next(ring for ring in self.status.rings if ring.name == name)

    def target(self, region: Region) -> Target:
        return Target.of(self.service, region)

    def set_region(self, status: RegionStatus, state: RegionState, message: str = "") -> None:
        status.state, status.message, status.since = state, message, workflow.now()
        if state is RegionState.HEALTHY:
            status.image = self.request.image

    def event(
        self,
        actor: str,
        action: str,
        ring: str | None = None,
        region: str | None = None,
        detail: str = "",
        key_fingerprint: str | None = None,
    ) -> None:
        """Append to the audit log (and the worker's log); ``key_fingerprint`` marks a signed command."""
        event = Event(
            at=workflow.now(),
            actor=actor,
            action=action,
            ring=ring,
            region=region,
            detail=detail,
            key_fingerprint=key_fingerprint,
        )
        self.status.events.append(event)
        workflow.logger.info("%s %s %s", action, ring or region or "", detail, extra={"actor": actor})

    def count(self, name: str, description: str, **labels: str) -> None:
        """Add one to the worker's counter ``name`` (``<name>_total`` in /metrics); not again on replay."""
        counter = self._counters.get(name)
        if counter is None:  # created once per run: counting is on the gate tick's path
            counter = self._counters[name] = workflow.metric_meter().create_counter(name, description)
        counter.add(1, labels)

    def notify(self, event: NotificationEvent, text: str, ring: str | None = None) -> None:
        """Queue a notification (see :class:`~ringctl.workflows.outbox.Outbox`); never blocks."""
        self.outbox.notify(event, text, ring)

    # -- waiting -------------------------------------------------------------------

    async def halt(self, ring: str, reason: str, resume_means: str = "retrying the halted ring") -> None:
        """Wait for a person: ``resume`` (which does ``resume_means``); ``rollback`` and ``abort`` interrupt."""
        self.ring(ring).state = RingState.HALTED
        self.resume_requested, self.resume_means = False, resume_means
        self.set_state(ReleaseState.HALTED, f"{reason}; waiting for resume, rollback or abort")
        self.event(SYSTEM_ACTOR, "halt", ring=ring, detail=reason)
        self.notify(NotificationEvent.HALTED, f"{self.request.release_id} halted: {reason}", ring=ring)
        await self.wait(lambda: self.resume_requested)
        self.resume_requested = False

    def stop_if_interrupted(self) -> None:
        """End the release's progress here if a rollback or abort was accepted."""
        if self.interrupted:
            raise asyncio.CancelledError("release interrupted by rollback or abort")

    async def wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait until ``condition`` holds (``TimeoutError`` after ``timeout``); a rollback or abort ends the wait."""
        await workflow.wait_condition(lambda: condition() or self.interrupted, timeout=timeout)
        self.stop_if_interrupted()

    async def checkpoint(self) -> None:
        """Before anything new starts: stop for good after a rollback or abort; block while paused."""
        self.stop_if_interrupted()
        if self.paused:
            await self.wait(lambda: not self.paused)

    def continue_if_due(
        self,
        ring: int,
        phase: Phase,
        remaining: timedelta = timedelta(0),
        streak: int = 0,
        holding: bool = False,
    ) -> None:
        """Continue the release as a new run at ``ring``'s ``phase`` if this run's history is long; else return.

        Only between ticks of a bake or budget loop, with nothing in flight: no accepted
        rollback or abort, no command being handled, no notification queued (else the
        next tick tries again; the limits leave room for that).
        """
        info = workflow.info()
        limit = self.request.history_limit or HISTORY_EVENTS
        long = (
            info.get_current_history_length() >= limit
            or info.get_current_history_size() >= HISTORY_BYTES
            or info.is_continue_as_new_suggested()
        )
        idle = not self.interrupted and not self.deploys_in_flight and self.outbox.idle
        if not (long and idle and workflow.all_handlers_finished()) or not workflow.patched(PATCH_BOUNDED_HISTORY):
            return
        runs = self.request.continued.runs + 1 if self.request.continued else 1
        workflow.logger.info("continuing as new run %d after %d events", runs + 1, info.get_current_history_length())
        at = Continued(
            status=self.status, ring=ring, phase=phase, remaining=remaining, streak=streak, holding=holding, runs=runs
        )
        workflow.continue_as_new(self.request.model_copy(update={"continued": at}))

    def failure_of(self, error: ActivityError) -> str:
        """Why an activity failed; its cancellation (the release was interrupted) is re-raised, never a failure."""
        if isinstance(error.cause, ActivityCancelled) or self.interrupted:
            raise asyncio.CancelledError("release interrupted by rollback or abort") from error
        return root_cause(error)
