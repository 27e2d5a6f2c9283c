"""How long a ring bakes: a fixed time (``bake: 1h``), or until the evidence exists (``bake: {min, until, max}``).

``bake: {min: 1h, until: evidence, max: 6h}`` bakes at least ``min`` (counted
as a plain bake is: not while paused or holding), then goes on until every
``comparison`` gate of the ring has a verdict (see
:mod:`ringctl.core.evidence`); a ring still without one ``max`` after its bake
began halts for a person instead of passing on too little traffic. ``max`` is
optional: without it the ring waits for the evidence as long as it takes.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationInfo, model_validator

from ringctl.core.durations import Duration, PositiveDuration, format_duration
from ringctl.core.planchecks import ConfigModel, is_payload

__all__ = ["Bake", "BakeUntil", "EvidenceBake", "bake_words"]


class BakeUntil(StrEnum):
    """What ends a bake after its ``min``."""

    EVIDENCE = "evidence"


class EvidenceBake(ConfigModel):
    """``{min: 1h, until: evidence, max: 6h}``: at least ``min``, then until every comparison gate decides."""

    min: Duration = Field(description="the bake's shortest time, as a plain bake counts it")
    until: BakeUntil = Field(description="evidence: go on until every comparison gate of the ring has a verdict")
    max: PositiveDuration | None = Field(
        default=None, description="halt for a person if there is still no verdict this long after the bake began"
    )

    @model_validator(mode="after")
    def _max_after_min(self) -> Self:
        if self.max is not None and self.max < self.min:
            raise ValueError(
                f"max ({format_duration(self.max)}) must not be shorter than min ({format_duration(self.min)})"
            )
        return self


_DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)


def _one_form(value: Any, info: ValidationInfo) -> Any:
    """Validate a mapping as :class:`EvidenceBake` and anything else as a duration, errors located in that form.

    A stored payload's mapping is left to the union (in JSON mode, so a newer
    payload's unknown fields are dropped).
    """
    if isinstance(value, dict):
        return value if is_payload(info) else EvidenceBake.model_validate(value, context=info.context)
    return _DURATION.validate_python(value, context=info.context)


#: A ring's ``bake``: a duration, or :class:`EvidenceBake`.
Bake = Annotated[Duration | EvidenceBake, BeforeValidator(_one_form)]


def bake_words(bake: timedelta | EvidenceBake) -> str:
    """``1h``, or ``1h, then until evidence (at most 6h)``."""
    if not isinstance(bake, EvidenceBake):
        return format_duration(bake)
    most = f" (at most {format_duration(bake.max)})" if bake.max is not None else ""
    return f"{format_duration(bake.min)}, then until evidence{most}"
