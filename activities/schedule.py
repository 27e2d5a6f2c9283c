"""Deployment-window checks, run by the workflow as a local activity.

The arithmetic is pure (:func:`ringctl.core.schedulecheck.check`), but public holidays
come from the ``holidays`` package, whose data changes between versions: as a
local activity its answer is recorded in the history, so a replay never
recomputes it. ``now`` is the workflow's time, never this process's clock.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from ringctl.activities.boundary import translated
from ringctl.core.schedule import RingSchedule
from ringctl.core.schedulecheck import WindowCheck, check


class CheckWindowInput(BaseModel):
    """Is ``schedule`` open at ``now``, and if not, when does it open?"""

    model_config = ConfigDict(frozen=True)

    schedule: RingSchedule
    now: datetime


@activity.defn
@translated
def check_window(request: CheckWindowInput) -> WindowCheck:
    """Evaluate a ring's windows, freezes and holidays at the workflow's time."""
    return check(request.schedule, request.now)
