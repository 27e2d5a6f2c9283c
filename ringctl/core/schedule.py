"""Deployment windows, freezes and public holidays: the models saying when a ring may be deployed.

A ring's :class:`RingSchedule` combines weekly :class:`Window`\\ s (wall-clock
hours in an IANA timezone), explicit :class:`Freeze` periods and an optional
:class:`HolidayFreeze` (a country's public holidays as whole-day freezes).
:func:`ringctl.core.schedulecheck.check` evaluates a schedule at an instant;
:mod:`ringctl.core.wallclock` does its local-time (DST) arithmetic.

Validating these models is pure, except under the plan-file context
(:mod:`ringctl.core.planchecks`): only then are zone names looked up in the tz
database and holiday countries in ``holidays`` (imported lazily, never by
importing this module), so a schedule inside a payload decodes in the workflow
sandbox. Built directly (``HolidayFreeze(...)``, ``RingSchedule.model_validate``)
a model gets the full checks.

Semantics, in one place:

* A window is open at an instant when the wall clock in its timezone shows an
  allowed day and a time in ``[start, end)``: start inclusive, end exclusive.
  ``end`` may be ``"24:00"`` (end of day). Windows never cross midnight: write
  an overnight window as two windows (``mon 22:00-24:00`` and ``tue 00:00-06:00``).
  Because the rule is about the wall clock, DST is handled naturally: a 10:00
  window opens at 10:00 local on both sides of a change.
* ``days`` takes ``mon`` ... ``sun`` and ranges such as ``mon-fri`` (a range may
  wrap: ``fri-mon`` is Fri, Sat, Sun, Mon); case-insensitive; a single string
  (``days: mon-fri``) is accepted as a one-item list.
* No windows means always open (subject to freezes and holidays).
* A freeze covers ``[start, end)`` for datetimes. A date means a whole day in the
  freeze's ``timezone`` (default UTC): a date ``start`` begins at that day's
  00:00 and a date ``end`` is *inclusive*, the freeze lifting at 00:00 of the
  following day. Naive datetimes are read in the freeze's ``timezone``.
* A public holiday closes the whole local day in the holiday ``timezone``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ringctl.core.planchecks import StandaloneConfigModel, plan_file_checks
from ringctl.core.wallclock import local_midnight

if TYPE_CHECKING:
    from holidays import HolidayBase

__all__ = ["FREEZE_YEARS", "Day", "Freeze", "HolidayFreeze", "RingSchedule", "TimeZoneName", "Window"]

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")
#: What an IANA zone name looks like (``Asia/Tokyo``, ``Etc/GMT+9``, ``UTC``); checked without I/O.
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$")
#: Years a freeze may name: far enough for any plan, near enough that no date arithmetic overflows.
FREEZE_YEARS = range(1970, 3000)


class _Model(StandaloneConfigModel):
    """Base of the schedule models (see the module docstring for which checks run when)."""


def _zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or ``ValueError`` naming it."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as 'Asia/Tokyo'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as 'Asia/Tokyo'") from exc


def _valid_zone(name: str, info: ValidationInfo) -> str:
    if len(name) > 64 or not _ZONE_NAME.match(name):
        raise ValueError(f"unknown timezone {name[:64]!r}; use an IANA name such as 'Asia/Tokyo'")
    if plan_file_checks(info):  # reads the tz database
        _zone(name)
    return name


#: An IANA time zone name such as ``Asia/Tokyo``, checked against the zone database.
TimeZoneName = Annotated[str, AfterValidator(_valid_zone)]


def _seconds(hhmm: str) -> int:
    """Seconds after midnight of ``HH:MM`` (``24:00`` is 86400)."""
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


def _day_spans(days: tuple[Day, ...]) -> str:
    """``('mon','tue','wed','fri')`` → ``Mon–Wed, Fri``."""
    idx = sorted(_DAYS.index(d) for d in days)
    runs: list[list[int]] = []
    for i in idx:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = []
    for run in runs:
        first, last = _DAYS[run[0]].title(), _DAYS[run[-1]].title()
        parts.append(first if len(run) == 1 else f"{first}–{last}")
    return ", ".join(parts)


def _fmt_utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Window(_Model):
    """A weekly deployment window: ``days`` at ``start``–``end`` wall-clock time in ``timezone``."""

    timezone: TimeZoneName
    days: tuple[Day, ...]
    start: str = Field(description="HH:MM, inclusive")
    end: str = Field(description="HH:MM, exclusive; 24:00 for end of day")

    @field_validator("days", mode="before")
    @classmethod
    def _expand_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            return value
        out: set[str] = set()
        for item in value:
            if not isinstance(item, str):
                raise ValueError(  # noqa: TRY004  (pydantic reports ValueError, not TypeError)
                    f"expected a day such as 'mon' or a range such as 'mon-fri', got {item!r}"
                )
            text = item.strip().lower()
            ends = [p.strip() for p in text.split("-")]
            if len(ends) > 2 or any(p not in _DAYS for p in ends):
                raise ValueError(
                    f"unknown day {item!r}; use mon, tue, wed, thu, fri, sat, sun or a range such as 'mon-fri'"
                )
            first, last = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
            span = (last - first) % 7
            out.update(_DAYS[(first + k) % 7] for k in range(span + 1))
        if not out:
            raise ValueError("at least one day is required")
        return tuple(d for d in _DAYS if d in out)

    @field_validator("start", "end")
    @classmethod
    def _check_hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected a time HH:MM between 00:00 and 24:00, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_order(self) -> Window:
        if self.start == "24:00":
            raise ValueError("start must be before 24:00")
        if self.end_seconds <= self.start_seconds:
            raise ValueError(
                f"end {self.end} must be after start {self.start}; windows cannot cross midnight, "
                "so write an overnight window as two windows"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The window's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def start_seconds(self) -> int:
        """``start`` in seconds after local midnight."""
        return _seconds(self.start)

    @property
    def end_seconds(self) -> int:
        """``end`` in seconds after local midnight (``24:00`` is 86400)."""
        return _seconds(self.end)

    def describe(self) -> str:
        """``Mon–Fri 10:00–16:00 Asia/Tokyo``."""
        return f"{_day_spans(self.days)} {self.start}–{self.end} {self.timezone}"

    def contains(self, instant: datetime) -> bool:
        """Whether the window is open at ``instant`` (tz-aware)."""
        local = instant.astimezone(self.zone)
        if _DAYS[local.weekday()] not in self.days:
            return False
        sod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return self.start_seconds <= sod < self.end_seconds


class Freeze(_Model):
    """No deployments from ``start`` until ``end`` (see the module docstring for date semantics)."""

    start: datetime | date
    end: datetime | date
    reason: str = Field(min_length=1)
    timezone: TimeZoneName = "UTC"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_bound(cls, value: Any) -> Any:
        # "2026-01-05" is a date (whole day), anything longer a datetime.
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return date.fromisoformat(value.strip())
        return value

    @field_validator("start", "end")
    @classmethod
    def _sane_year(cls, value: datetime | date) -> datetime | date:
        if value.year not in FREEZE_YEARS:
            raise ValueError(f"year must be between {FREEZE_YEARS.start} and {FREEZE_YEARS.stop - 1}")
        return value

    @model_validator(mode="after")
    def _check_order(self, info: ValidationInfo) -> Freeze:
        if plan_file_checks(info) and self.end_utc <= self.start_utc:  # reads the tz database
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self

    def _instant(self, value: datetime | date, *, is_end: bool) -> datetime:
        zone = _zone(self.timezone)
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            return aware.astimezone(UTC)
        day = value + timedelta(days=1) if is_end else value
        return local_midnight(day, zone)

    @property
    def start_utc(self) -> datetime:
        """First frozen instant."""
        return self._instant(self.start, is_end=False)

    @property
    def end_utc(self) -> datetime:
        """First instant after the freeze."""
        return self._instant(self.end, is_end=True)

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` is frozen."""
        return self.start_utc <= instant < self.end_utc

    def describe(self) -> str:
        """``freeze 'year-end' until 2026-01-05 00:00 UTC``."""
        return f"freeze '{self.reason}' until {_fmt_utc(self.end_utc)}"


class HolidayFreeze(_Model):
    """Public holidays of ``country`` (ISO 3166-1 alpha-2, optional ``subdivision``) as whole-day freezes."""

    country: str
    subdivision: str | None = None
    timezone: TimeZoneName

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str, info: ValidationInfo) -> str:
        code = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", code) or (plan_file_checks(info) and not _has_calendar(code)):
            raise ValueError(
                f"no public-holiday calendar for country {value[:16]!r}; use an ISO 3166-1 code such as 'JP'"
            )
        return code

    @model_validator(mode="after")
    def _check_subdivision(self, info: ValidationInfo) -> HolidayFreeze:
        if self.subdivision is not None and plan_file_checks(info):
            known = _subdivisions(self.country)
            if self.subdivision not in known:
                listed = ", ".join(known) or "none"
                raise ValueError(f"unknown subdivision {self.subdivision[:16]!r} of {self.country}; known: {listed}")
        return self

    def calendar(self, years: range) -> HolidayBase:
        """The holiday calendar for ``years``, with English names where the package has them."""
        import holidays  # lazily: importing it reads the clock and files (not in the workflow sandbox)

        cls = holidays.country_holidays(self.country, subdiv=self.subdivision, years=[])
        language = "en_US" if "en_US" in getattr(cls, "supported_languages", ()) else None
        return holidays.country_holidays(self.country, subdiv=self.subdivision, years=list(years), language=language)

    @property
    def label(self) -> str:
        """``JP`` or ``US-NY``."""
        return self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"


def _has_calendar(country: str) -> bool:
    """Whether ``holidays`` has a calendar for ``country`` (plan-file checks only).

    Asks the package's registry: loading a calendar loads all of them, 75 ms more for
    ``ringctl validate`` (issue 11); only a subdivision needs one (:func:`_subdivisions`).
    """
    from holidays.registry import EntityLoader

    return country in EntityLoader.get_country_codes()


def _subdivisions(country: str) -> list[str]:
    """The subdivisions ``holidays`` knows for ``country``, one it has a calendar for (plan-file checks only)."""
    import holidays

    return list(getattr(holidays, country).subdivisions)


class RingSchedule(_Model):
    """When a ring may be deployed: inside any window (always, if none) and outside every freeze and holiday."""

    windows: list[Window] = []
    freezes: list[Freeze] = []
    holidays: HolidayFreeze | None = None
