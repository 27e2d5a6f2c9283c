"""Human durations (``90s``, ``5m``, ``1h30m``, ``2d``) as pydantic-validated ``timedelta``.

Every :data:`Duration` is finite and not negative, and one in a plan file is at
most :data:`MAX_DURATION`, so no arithmetic on an accepted plan (``now +
rollback_retention``, a timeout plus a margin) can overflow. The bound lives
here, in the :data:`Duration` type, and nowhere else; like every plan-file
check (:mod:`ringctl.core.planchecks`) it is not applied again to stored payloads.
A duration that must be longer than 0s (a timeout, a window, an interval) is a
:data:`PositiveDuration`.
"""

from __future__ import annotations

import math
import re
import reprlib
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, TypeAdapter, ValidationError, ValidationInfo

from ringctl.core.planchecks import plan_file_checks

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_ISO_DURATION = TypeAdapter(timedelta)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: The longest duration a plan may give (bakes, timeouts, windows, retention): a year and a day.
MAX_DURATION = timedelta(days=366)
#: How a bad value is quoted in an error message: a few dozen characters at most, however big it is.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxlist, _QUOTE.maxdict, _QUOTE.maxstring, _QUOTE.maxlong, _QUOTE.maxother = 2, 4, 4, 40, 40, 40
_EXAMPLES = "'90s', '5m', '1h30m', '2d'"


def _quote(value: Any) -> str:
    """``repr(value)``, shortened: a huge value still makes a short message."""
    return _QUOTE.repr(value)


def _seconds_of(value: Any) -> float:
    """The number of seconds ``value`` spells, unchecked; ``ValueError`` if it spells none."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {_quote(value)}")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # more than about 1e308
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {_quote(value)}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"duration must not be negative, got {_quote(value)}")
    if text[:1] in ("P", "p"):  # ISO 8601, as pydantic serialises timedelta
        try:
            return _ISO_DURATION.validate_python(text).total_seconds()
        except (ValidationError, OverflowError):
            raise ValueError(f"expected an ISO 8601 duration such as 'PT5M', got {_quote(value)}") from None
    if not text or _PART.sub("", text) != "":
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {_quote(value)}")
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))  # a huge number is inf, never an error


def parse_duration(value: Any, maximum: timedelta | None = MAX_DURATION) -> timedelta:
    """Parse ``1h30m``-style text, a number of seconds, ISO 8601 text, or a timedelta.

    Raises ``ValueError`` (never ``OverflowError``) for malformed, negative,
    infinite or NaN values and for values longer than ``maximum``
    (:data:`MAX_DURATION`; ``None``: as long as a ``timedelta`` holds).
    """
    seconds = _seconds_of(value)
    if math.isnan(seconds):
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {_quote(value)}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {_quote(value)}")
    if maximum is not None and seconds > maximum.total_seconds():
        raise ValueError(f"duration must be at most {format_duration(maximum)}, got {_quote(value)}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration is too long, got {_quote(value)}") from None


def _positive(value: timedelta, info: ValidationInfo) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"{info.field_name or 'duration'} must be greater than 0s")
    return value


def _validate_duration(value: Any, info: ValidationInfo) -> timedelta:
    # The bound is a plan-file check: a stored payload (or a model built from one) was checked when
    # its file was loaded, and must still decode if a later version lowers the bound.
    return parse_duration(value, maximum=MAX_DURATION if plan_file_checks(info) else None)


def format_duration(value: timedelta) -> str:
    """Render a timedelta compactly (``1h30m``, ``45s``)."""
    total = value.total_seconds()
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, total = divmod(total, size)
        if n:
            out.append(f"{int(n)}{unit}")
    if total:
        out.append(f"{total:g}s")
    return "".join(out)


#: A duration field (0 to :data:`MAX_DURATION` in a plan file): accepts ``'5m'``, seconds, or ISO 8601;
#: serialises as ``'5m'``.
Duration = Annotated[
    timedelta,
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
#: A :data:`Duration` longer than 0s (timeouts, windows, intervals); the error names the field.
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
