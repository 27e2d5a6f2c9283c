"""Wall-clock arithmetic in IANA zones, DST included: pure functions of their arguments and the tz database.

:mod:`ringctl.core.schedule` and :mod:`ringctl.core.schedulecheck` use these to
turn wall-clock rules (a window from 10:00, a holiday's local day) into UTC
instants, also where a DST change skips or repeats the wall-clock time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo

__all__ = ["TRANSITION_STEP", "find_transition", "local_midnight", "transitions", "wall_candidates", "wall_to_utc"]

#: Step used to find DST transitions; no zone changes its offset twice within it.
TRANSITION_STEP = timedelta(hours=6)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of local ``day`` in ``zone`` (in UTC), even where midnight falls in a DST gap."""
    return wall_to_utc(day, 0, zone)


def wall_to_utc(day: date, seconds: int, zone: tzinfo) -> datetime:
    """The first instant whose wall clock in ``zone`` reads ``day`` + ``seconds`` or later."""
    naive = datetime.combine(day, time()) + timedelta(seconds=seconds)
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    candidates = [u for u in (early, late) if u.astimezone(zone).replace(tzinfo=None) == naive]
    if candidates:
        return min(candidates)
    # In a gap: the wall clock jumps over ``naive`` at the transition between ``late`` and ``early``.
    return find_transition(min(early, late), max(early, late), zone)


def find_transition(lo: datetime, hi: datetime, zone: tzinfo) -> datetime:
    """The instant in ``(lo, hi]`` where ``zone``'s offset changes (offsets differ at lo and hi, and
    change once in between); transitions fall on whole seconds."""
    before = lo.astimezone(zone).utcoffset()
    lo_s, hi_s = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == before:
            lo_s = mid
        else:
            hi_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def transitions(zone: tzinfo, start: datetime, end: datetime) -> list[datetime]:
    """Offset changes of ``zone`` within ``[start, end)``."""
    out = []
    lo = start
    offset = lo.astimezone(zone).utcoffset()
    while lo < end:
        hi = min(lo + TRANSITION_STEP, end)
        new = hi.astimezone(zone).utcoffset()
        if new != offset:
            out.append(find_transition(lo, hi, zone))
            offset = new
        lo = hi
    return out


def wall_candidates(zone: tzinfo, walls: set[int], start: datetime, end: datetime) -> Iterator[datetime]:
    """Every instant in ``[start, end)`` where ``zone``'s wall clock reaches one of ``walls`` (seconds
    after midnight, any date) or jumps (a DST transition): the only places a wall-clock rule can change."""
    cuts = [start, *transitions(zone, start, end), end]
    yield from cuts[1:-1]
    for seg_start, seg_end in itertools.pairwise(cuts):
        offset = seg_start.astimezone(zone).utcoffset()
        assert offset is not None
        first = (seg_start + offset).date()
        last = (seg_end + offset).date()
        day = first
        while day <= last:
            base = datetime.combine(day, time(), tzinfo=UTC) - offset
            for wall in walls:
                instant = base + timedelta(seconds=wall)
                if seg_start <= instant < seg_end:
                    yield instant
            day += timedelta(days=1)
