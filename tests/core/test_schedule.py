"""Unit tests for ringctl.core.schedule and .schedulecheck: window arithmetic, freezes, holidays, DST. Pure and fast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from pydantic import ValidationError

from ringctl.core.schedule import Freeze, HolidayFreeze, RingSchedule, Window
from ringctl.core.schedulecheck import SEARCH_HORIZON, WindowCheck, check

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def tokyo(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=TOKYO)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK, fold=fold)


def tokyo_business(**extra: object) -> RingSchedule:
    return RingSchedule.model_validate(
        {"windows": [{"timezone": "Asia/Tokyo", "days": ["mon-fri"], "start": "10:00", "end": "16:00"}], **extra}
    )


def assert_utc(value: datetime | None, expected: datetime) -> None:
    assert value is not None
    assert value.utcoffset() == timedelta(0)
    assert value == expected


# --- windows -------------------------------------------------------------------------------------


def test_open_inside_window_reports_closing_time() -> None:
    result = check(tokyo_business(), tokyo(2026, 6, 3, 12, 0))  # Wednesday
    assert result.open
    assert result.reason == "inside window Mon–Fri 10:00–16:00 Asia/Tokyo"
    assert_utc(result.opens_at, tokyo(2026, 6, 3, 12, 0))
    assert_utc(result.closes_at, tokyo(2026, 6, 3, 16, 0))


def test_start_is_inclusive() -> None:
    result = check(tokyo_business(), tokyo(2026, 6, 3, 10, 0))
    assert result.open
    assert result.closes_at == tokyo(2026, 6, 3, 16, 0)


def test_just_before_start_is_closed_and_opens_at_start() -> None:
    result = check(tokyo_business(), tokyo(2026, 6, 3, 9, 59, 59))
    assert not result.open
    assert result.reason == "outside window Mon–Fri 10:00–16:00 Asia/Tokyo"
    assert_utc(result.opens_at, tokyo(2026, 6, 3, 10, 0))
    assert result.closes_at is None


def test_end_is_exclusive() -> None:
    assert check(tokyo_business(), tokyo(2026, 6, 3, 15, 59, 59)).open
    at_end = check(tokyo_business(), tokyo(2026, 6, 3, 16, 0))
    assert not at_end.open
    assert at_end.opens_at == tokyo(2026, 6, 4, 10, 0)


def test_weekend_opens_next_monday_ten_tokyo() -> None:
    for now in (tokyo(2026, 6, 5, 16, 0), tokyo(2026, 6, 6, 11, 0), tokyo(2026, 6, 7, 23, 59)):
        result = check(tokyo_business(), now)
        assert not result.open
        assert_utc(result.opens_at, datetime(2026, 6, 8, 1, 0, tzinfo=UTC))  # Mon 10:00 JST


def test_now_in_another_timezone_is_the_same_instant() -> None:
    # Sunday 20:00 in New York is Monday 09:00 in Tokyo: closed, opens an hour later.
    result = check(tokyo_business(), ny(2026, 6, 7, 20, 0))
    assert not result.open
    assert result.opens_at == tokyo(2026, 6, 8, 10, 0)


def test_no_windows_means_always_open() -> None:
    result = check(RingSchedule(), datetime(2026, 6, 6, 3, 0, tzinfo=UTC))
    assert result.open
    assert result.opens_at == datetime(2026, 6, 6, 3, 0, tzinfo=UTC)
    assert result.closes_at is None


def test_several_windows_union_and_adjacent_windows_merge() -> None:
    schedule = RingSchedule.model_validate(
        {
            "windows": [
                {"timezone": "UTC", "days": ["mon"], "start": "22:00", "end": "24:00"},
                {"timezone": "UTC", "days": ["tue"], "start": "00:00", "end": "06:00"},
                {"timezone": "UTC", "days": ["sat"], "start": "12:00", "end": "13:00"},
            ]
        }
    )
    monday_night = check(schedule, datetime(2026, 6, 1, 23, 0, tzinfo=UTC))
    assert monday_night.open
    assert monday_night.closes_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # overnight as two windows
    tuesday = check(schedule, datetime(2026, 6, 2, 6, 0, tzinfo=UTC))
    assert not tuesday.open
    assert tuesday.opens_at == datetime(2026, 6, 6, 12, 0, tzinfo=UTC)
    assert tuesday.reason.startswith("outside windows Mon 22:00–24:00 UTC; Tue 00:00–06:00 UTC; Sat")


def test_day_ranges_lists_and_wrapping() -> None:
    w = Window(timezone="UTC", days=["fri-mon", "wed"], start="09:00", end="10:00")  # type: ignore[arg-type]
    assert w.days == ("mon", "wed", "fri", "sat", "sun")
    assert w.describe() == "Mon, Wed, Fri–Sun 09:00–10:00 UTC"
    assert Window(timezone="UTC", days=["Mon-Fri"], start="09:00", end="10:00").days == (  # type: ignore[arg-type]
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    assert Window(timezone="UTC", days=["sat", "sat"], start="09:00", end="10:00").days == ("sat",)  # type: ignore[arg-type]


# --- freezes -------------------------------------------------------------------------------------


def test_freeze_overlapping_window_opens_after_freeze_in_a_window() -> None:
    schedule = tokyo_business(
        freezes=[{"start": "2026-06-03T12:00:00+09:00", "end": "2026-06-04T11:30:00+09:00", "reason": "db migration"}]
    )
    before = check(schedule, tokyo(2026, 6, 3, 11, 0))
    assert before.open
    assert before.closes_at == tokyo(2026, 6, 3, 12, 0)  # the freeze cuts the window short
    during = check(schedule, tokyo(2026, 6, 3, 12, 0))
    assert not during.open
    assert during.reason == "freeze 'db migration' until 2026-06-04 02:30 UTC"
    assert during.opens_at == tokyo(2026, 6, 4, 11, 30)  # freeze end is exclusive, inside Thursday's window


def test_freeze_ending_outside_window_waits_for_the_window() -> None:
    schedule = tokyo_business(freezes=[{"start": "2026-12-24", "end": "2027-01-04", "reason": "year-end"}])
    result = check(schedule, datetime(2026, 12, 28, 3, 0, tzinfo=UTC))
    assert not result.open
    assert result.reason == "freeze 'year-end' until 2027-01-05 00:00 UTC"  # date end is inclusive
    assert result.opens_at == tokyo(2027, 1, 5, 10, 0)  # Jan 4 is a Monday but still frozen


def test_freeze_dates_are_whole_days_in_the_freeze_timezone() -> None:
    utc_freeze = Freeze(start=date(2026, 6, 3), end=date(2026, 6, 3), reason="r")
    assert utc_freeze.start_utc == datetime(2026, 6, 3, tzinfo=UTC)
    assert utc_freeze.end_utc == datetime(2026, 6, 4, tzinfo=UTC)
    tokyo_freeze = Freeze(start=date(2026, 6, 3), end=date(2026, 6, 3), reason="r", timezone="Asia/Tokyo")
    assert tokyo_freeze.start_utc == tokyo(2026, 6, 3)
    assert tokyo_freeze.end_utc == tokyo(2026, 6, 4)
    naive = Freeze.model_validate(
        {"start": "2026-06-03T09:00", "end": datetime(2026, 6, 3, 18, 0), "reason": "r", "timezone": "Asia/Tokyo"}
    )
    assert naive.start_utc == tokyo(2026, 6, 3, 9) and naive.end_utc == tokyo(2026, 6, 3, 18)
    assert isinstance(Freeze.model_validate({"start": "2026-06-03", "end": "2026-06-04", "reason": "r"}).start, date)


def test_freeze_without_windows_closes_and_reopens_at_freeze_end() -> None:
    schedule = RingSchedule.model_validate(
        {"freezes": [{"start": "2026-06-03T00:00:00Z", "end": "2026-06-03T06:00:00Z", "reason": "r"}]}
    )
    open_before = check(schedule, datetime(2026, 6, 2, 20, 0, tzinfo=UTC))
    assert open_before.open and open_before.closes_at == datetime(2026, 6, 3, tzinfo=UTC)
    assert check(schedule, datetime(2026, 6, 3, 5, 59, tzinfo=UTC)).opens_at == datetime(2026, 6, 3, 6, tzinfo=UTC)
    assert check(schedule, datetime(2026, 6, 3, 6, 0, tzinfo=UTC)).open


def test_never_opens_within_horizon() -> None:
    schedule = tokyo_business(freezes=[{"start": "2026-01-01", "end": "2028-12-31", "reason": "forever"}])
    result = check(schedule, datetime(2026, 6, 1, tzinfo=UTC))
    assert result == WindowCheck(open=False, reason="freeze 'forever' until 2029-01-01 00:00 UTC")
    assert timedelta(days=366) <= SEARCH_HORIZON


# --- holidays ------------------------------------------------------------------------------------


def test_package_knows_labour_thanksgiving_day_2026() -> None:
    assert date(2026, 11, 23) in holidays.country_holidays("JP", years=2026)
    assert date(2026, 11, 23).weekday() == 0  # a Monday


def test_holiday_closes_the_day_and_opens_next_business_day() -> None:
    schedule = tokyo_business(holidays={"country": "JP", "timezone": "Asia/Tokyo"})
    result = check(schedule, tokyo(2026, 11, 23, 11, 0))
    assert not result.open
    assert result.reason.startswith("public holiday in JP: ")
    assert "Thanksgiving" in result.reason
    assert_utc(result.opens_at, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # Tue 10:00 JST
    # From the weekend before, Monday is skipped too.
    assert check(schedule, tokyo(2026, 11, 21, 12, 0)).opens_at == tokyo(2026, 11, 24, 10, 0)
    # Friday's window closes at its normal end.
    assert check(schedule, tokyo(2026, 11, 20, 12, 0)).closes_at == tokyo(2026, 11, 20, 16, 0)


def test_holiday_without_windows_is_a_whole_local_day() -> None:
    schedule = RingSchedule.model_validate({"holidays": {"country": "JP", "timezone": "Asia/Tokyo"}})
    before = check(schedule, tokyo(2026, 11, 22, 12, 0))
    assert before.open and before.closes_at == tokyo(2026, 11, 23, 0, 0)
    during = check(schedule, datetime(2026, 11, 23, 14, 59, tzinfo=UTC))  # 23:59 JST
    assert not during.open and during.opens_at == tokyo(2026, 11, 24, 0, 0)


def test_holiday_subdivision_and_validation() -> None:
    h = HolidayFreeze(country="us", subdivision="NY", timezone="America/New_York")
    assert h.country == "US" and h.label == "US-NY"
    with pytest.raises(ValidationError, match="country"):
        HolidayFreeze(country="XX", timezone="UTC")
    with pytest.raises(ValidationError, match="unknown subdivision 'ZZ' of JP"):
        HolidayFreeze(country="JP", subdivision="ZZ", timezone="Asia/Tokyo")


# --- DST -----------------------------------------------------------------------------------------


def ny_window(start: str = "09:00", end: str = "17:00", days: str = "mon-sun") -> RingSchedule:
    return RingSchedule.model_validate(
        {"windows": [{"timezone": "America/New_York", "days": [days], "start": start, "end": end}]}
    )


def test_dst_spring_forward_keeps_local_opening_time() -> None:
    # 2026-03-08: clocks go 02:00 EST -> 03:00 EDT.
    schedule = ny_window()
    before = check(schedule, datetime(2026, 3, 7, 23, 0, tzinfo=UTC))  # Sat 18:00 EST
    assert not before.open
    assert before.opens_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 09:00 EDT, not 14:00 UTC
    opened = check(schedule, datetime(2026, 3, 8, 13, 0, tzinfo=UTC))
    assert opened.open and opened.closes_at == datetime(2026, 3, 8, 21, 0, tzinfo=UTC)
    assert not check(schedule, datetime(2026, 3, 8, 12, 59, tzinfo=UTC)).open


def test_dst_fall_back_keeps_local_opening_time() -> None:
    # 2026-11-01: clocks go 02:00 EDT -> 01:00 EST.
    schedule = ny_window(days="sun")
    result = check(schedule, datetime(2026, 10, 31, 20, 0, tzinfo=UTC))
    assert result.opens_at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 09:00 EST
    opened = check(schedule, datetime(2026, 11, 1, 14, 0, tzinfo=UTC))
    assert opened.closes_at == datetime(2026, 11, 1, 22, 0, tzinfo=UTC)  # 17:00 EST


def test_dst_window_starting_in_the_gap_opens_at_the_jump() -> None:
    schedule = ny_window(start="02:30", end="04:00", days="sun")
    result = check(schedule, datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # 00:00 EST
    assert result.opens_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the first wall time >= 02:30
    assert check(schedule, result.opens_at).closes_at == ny(2026, 3, 8, 4, 0)


def test_dst_repeated_hour_opens_twice() -> None:
    schedule = ny_window(start="01:30", end="03:00", days="sun")
    first = check(schedule, datetime(2026, 11, 1, 4, 0, tzinfo=UTC))  # 00:00 EDT
    # (Aware datetimes in a repeated hour never compare equal across zones, so compare in UTC.)
    assert first.opens_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert ny(2026, 11, 1, 1, 30, fold=0).astimezone(UTC) == first.opens_at
    in_first = check(schedule, first.opens_at)
    assert in_first.closes_at == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # the clock falls back to 01:00
    again = check(schedule, datetime(2026, 11, 1, 6, 0, tzinfo=UTC))
    assert not again.open
    assert again.opens_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert ny(2026, 11, 1, 1, 30, fold=1).astimezone(UTC) == again.opens_at
    assert check(schedule, again.opens_at).closes_at == ny(2026, 11, 1, 3, 0)


def test_dst_freeze_dates_follow_local_midnight() -> None:
    f = Freeze(start=date(2026, 3, 8), end=date(2026, 3, 8), reason="r", timezone="America/New_York")
    assert f.end_utc - f.start_utc == timedelta(hours=23)


# --- input checks --------------------------------------------------------------------------------


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check(RingSchedule(), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("window", "field", "message"),
    [
        (
            {"timezone": "Mars/Olympus", "days": ["mon"], "start": "10:00", "end": "11:00"},
            "timezone",
            "unknown timezone",
        ),
        ({"timezone": "", "days": ["mon"], "start": "10:00", "end": "11:00"}, "timezone", "unknown timezone"),
        ({"timezone": "UTC", "days": ["mon"], "start": "16:00", "end": "10:00"}, "windows.0", "must be after start"),
        ({"timezone": "UTC", "days": ["mon"], "start": "10:00", "end": "10:00"}, "windows.0", "must be after start"),
        ({"timezone": "UTC", "days": ["funday"], "start": "10:00", "end": "11:00"}, "days", "unknown day 'funday'"),
        ({"timezone": "UTC", "days": ["mon-xyz"], "start": "10:00", "end": "11:00"}, "days", "unknown day"),
        ({"timezone": "UTC", "days": [], "start": "10:00", "end": "11:00"}, "days", "at least one day"),
        ({"timezone": "UTC", "days": ["mon"], "start": "9:00", "end": "11:00"}, "start", "HH:MM"),
        ({"timezone": "UTC", "days": ["mon"], "start": "10:00", "end": "24:30"}, "end", "HH:MM"),
        ({"timezone": "UTC", "days": ["mon"], "start": "10:00", "end": "11:00", "tz": "x"}, "tz", "Extra inputs"),
    ],
)
def test_invalid_window_names_the_field(window: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RingSchedule.model_validate({"windows": [window]})
    text = str(info.value)
    assert message in text
    assert any(field in ".".join(str(p) for p in e["loc"]) for e in info.value.errors())


def test_invalid_freeze_and_holiday_config() -> None:
    with pytest.raises(ValidationError, match="must be after start"):
        Freeze(start=datetime(2026, 1, 2, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC), reason="r")
    with pytest.raises(ValidationError, match="must be after start"):
        Freeze(start=date(2026, 1, 2), end=date(2026, 1, 1), reason="r")
    with pytest.raises(ValidationError) as info:
        RingSchedule.model_validate({"holidays": {"country": "JP", "timezone": "Tokyo"}})
    assert info.value.errors()[0]["loc"] == ("holidays", "timezone")
    with pytest.raises(ValidationError, match="Extra inputs"):
        RingSchedule.model_validate({"window": []})


def test_schedule_roundtrips_through_json() -> None:
    schedule = tokyo_business(
        freezes=[{"start": "2026-12-24", "end": "2027-01-04", "reason": "year-end", "timezone": "Asia/Tokyo"}],
        holidays={"country": "JP", "timezone": "Asia/Tokyo"},
    )
    again = RingSchedule.model_validate_json(schedule.model_dump_json())
    assert again == schedule
    now = tokyo(2026, 12, 30, 12)
    assert check(again, now) == check(schedule, now)


# --- cross-check against a brute-force minute scan -----------------------------------------------


def _brute_open(
    windows: list[tuple[ZoneInfo, set[int], int, int]], freeze: tuple[datetime, datetime], t: datetime
) -> bool:
    if freeze[0] <= t < freeze[1]:
        return False
    for zone, weekdays, start, end in windows:
        local = t.astimezone(zone)
        minute = local.hour * 60 + local.minute
        if local.weekday() in weekdays and start <= minute < end:
            return True
    return False


@pytest.mark.parametrize("around", [datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)])
def test_matches_minute_scan_across_dst(around: datetime) -> None:
    schedule = RingSchedule.model_validate(
        {
            "windows": [
                {"timezone": "America/New_York", "days": ["sat-sun"], "start": "01:30", "end": "03:30"},
                {"timezone": "America/New_York", "days": ["sun", "mon"], "start": "09:00", "end": "17:00"},
                {"timezone": "Asia/Tokyo", "days": ["mon"], "start": "00:00", "end": "01:00"},
            ],
            "freezes": [{"start": around + timedelta(hours=40), "end": around + timedelta(hours=47), "reason": "r"}],
        }
    )
    brute_windows = [
        (NEW_YORK, {5, 6}, 90, 210),
        (NEW_YORK, {6, 0}, 540, 1020),
        (TOKYO, {0}, 0, 60),
    ]
    freeze = (around + timedelta(hours=40), around + timedelta(hours=47))
    minute = timedelta(minutes=1)
    for k in range(0, 3 * 24 * 60, 47):
        now = around + k * minute
        result = check(schedule, now)
        assert result.open == _brute_open(brute_windows, freeze, now), now
        probe = now
        while _brute_open(brute_windows, freeze, probe) != (not result.open):
            probe += minute
        if result.open:
            assert result.closes_at == probe, now
        else:
            assert result.opens_at == probe, now
