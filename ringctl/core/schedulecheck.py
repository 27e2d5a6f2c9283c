"""When a ring may be deployed: :func:`check` evaluates a :class:`~ringctl.core.schedule.RingSchedule` at an instant.

:func:`check` answers "may we deploy at ``now``?" and, if not, when the next
open instant is. It is pure: ``now`` is always passed in (workflow time), the
clock is never read, and the answer depends only on the inputs, the tz database
and the installed ``holidays`` package (whose data changes between versions, so
call it from a (local) activity when a schedule has ``holidays``). What windows,
freezes and holidays mean is in :mod:`ringctl.core.schedule`.

* ``opens_at`` is the earliest instant at or after ``now`` when the schedule is
  open, searched up to :data:`SEARCH_HORIZON` ahead (``None`` beyond that);
  ``closes_at`` is when the current open period ends (``None`` if closed, or if
  it stays open for the whole horizon).
* Openness can only change where a freeze starts or ends, or where a wall clock
  in a window's or the holidays' timezone reaches a window's start or end or
  midnight (:func:`ringctl.core.wallclock.wall_candidates`); the search
  evaluates those instants only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ringctl.core.planchecks import StandaloneConfigModel
from ringctl.core.schedule import Freeze, RingSchedule
from ringctl.core.wallclock import wall_candidates

__all__ = ["SEARCH_HORIZON", "WindowCheck", "check"]

#: How far ahead :func:`check` looks for the next open instant.
SEARCH_HORIZON = timedelta(days=366)
#: Length of the UTC chunks the search generates candidate instants for.
_CHUNK = timedelta(days=8)
_DAY_SECONDS = 86400


class WindowCheck(StandaloneConfigModel):
    """The answer of :func:`check`; instants are UTC."""

    open: bool
    reason: str
    opens_at: datetime | None = None
    closes_at: datetime | None = None


class _Evaluator:
    """One :func:`check` call's view of a schedule: predicate, reasons and change points."""

    def __init__(self, schedule: RingSchedule, now: datetime) -> None:
        self.schedule = schedule
        self.freezes = [(f, f.start_utc, f.end_utc) for f in schedule.freezes]
        self.holiday_zone = ZoneInfo(schedule.holidays.timezone) if schedule.holidays else None
        self.calendar = (
            schedule.holidays.calendar(range(now.year - 1, (now + SEARCH_HORIZON).year + 2))
            if schedule.holidays
            else None
        )
        # Wall-clock times at which some rule may change, per timezone.
        self.walls: dict[str, set[int]] = {}
        for w in schedule.windows:
            self.walls.setdefault(w.timezone, {0}).update({w.start_seconds, w.end_seconds % _DAY_SECONDS})
        if schedule.holidays:
            self.walls.setdefault(schedule.holidays.timezone, {0})

    def freeze_at(self, instant: datetime) -> Freeze | None:
        for f, start, end in self.freezes:
            if start <= instant < end:
                return f
        return None

    def holiday_at(self, instant: datetime) -> str | None:
        if self.calendar is None or self.holiday_zone is None:
            return None
        name: str | None = self.calendar.get(instant.astimezone(self.holiday_zone).date())
        return name

    def in_window(self, instant: datetime) -> bool:
        return not self.schedule.windows or any(w.contains(instant) for w in self.schedule.windows)

    def is_open(self, instant: datetime) -> bool:
        return self.in_window(instant) and self.freeze_at(instant) is None and self.holiday_at(instant) is None

    def closed_reason(self, instant: datetime) -> str:
        freeze = self.freeze_at(instant)
        if freeze is not None:
            return freeze.describe()
        holiday = self.holiday_at(instant)
        if holiday is not None:
            assert self.schedule.holidays is not None
            return f"public holiday in {self.schedule.holidays.label}: {holiday}"
        windows = self.schedule.windows
        noun = "window" if len(windows) == 1 else "windows"
        return f"outside {noun} " + "; ".join(w.describe() for w in windows)

    def open_reason(self, instant: datetime) -> str:
        inside = [w for w in self.schedule.windows if w.contains(instant)]
        if not inside:
            return "no deployment windows configured; no freeze or holiday applies"
        return "inside window " + "; ".join(w.describe() for w in inside)

    def change_points(self, start: datetime, end: datetime) -> list[datetime]:
        """Sorted instants in ``[start, end)`` where openness may change."""
        points: set[datetime] = set()
        for _, fs, fe in self.freezes:
            points.update(p for p in (fs, fe) if start <= p < end)
        for name, walls in self.walls.items():
            points.update(wall_candidates(ZoneInfo(name), walls, start, end))
        return sorted(points)

    def first(self, after: datetime, want_open: bool) -> datetime | None:
        """The first change point after ``after`` (exclusive) with openness ``want_open``, within the horizon."""
        horizon = after + SEARCH_HORIZON
        lo = after
        while lo < horizon:
            hi = min(lo + _CHUNK, horizon)
            for point in self.change_points(lo, hi):
                if point > after and self.is_open(point) == want_open:
                    return point
            lo = hi
        return None


def check(schedule: RingSchedule, now: datetime) -> WindowCheck:
    """Whether ``schedule`` allows a deployment at ``now`` (tz-aware), and when that changes.

    Returns a :class:`WindowCheck`: ``open`` with the reason; when closed, ``opens_at``
    (earliest open instant, ``None`` if not within :data:`SEARCH_HORIZON`); when open,
    ``opens_at == now`` and ``closes_at`` (end of this open period, ``None`` beyond the horizon).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    ev = _Evaluator(schedule, now)
    if ev.is_open(now):
        return WindowCheck(open=True, reason=ev.open_reason(now), opens_at=now, closes_at=ev.first(now, False))
    return WindowCheck(open=False, reason=ev.closed_reason(now), opens_at=ev.first(now, True), closes_at=None)
