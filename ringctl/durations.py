"""Human durations (``90s``, ``5m``, ``1h30m``, ``2d``) as pydantic-validated ``timedelta``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_ISO_DURATION = TypeAdapter(timedelta)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``1h30m``-style text, a number of seconds, or a timedelta.

    Raises ``ValueError`` for negative or malformed values.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration such as '5m', got {value!r}")
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValueError(f"duration must not be negative, got {value!r}")
        if text.startswith("P") or text.startswith("p"):  # ISO 8601, as pydantic serialises timedelta
            seconds = _ISO_DURATION.validate_python(text).total_seconds()
        else:
            if not text or _PART.sub("", text) != "":
                raise ValueError(f"expected a duration such as '90s', '5m', '1h30m', '2d', got {value!r}")
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"expected a duration such as '5m', got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return timedelta(seconds=seconds)


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


#: A non-negative duration field: accepts ``'5m'``, seconds, or ISO 8601; serialises as ``'5m'``.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
