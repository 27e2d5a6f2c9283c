"""Which checks run when a plan model is validated: a plan file, code, or a stored payload.

The plan travels inside workflow and activity payloads, so its models are
validated in three situations, and each gets the checks it can afford:

* **A plan file** (``ringctl validate``, ``ringctl release start``): the loader
  passes :data:`PLAN_FILE_CONTEXT`. Everything is checked, including what needs
  a library, a lookup or I/O (IANA zone names, holiday calendars, public keys)
  and limits a later version may tighten (the longest duration, the shortest
  evaluation interval): validators ask :func:`plan_file_checks` first.
* **Code** (``Plan.model_validate(data)``, ``Gate(...)``): unknown fields are
  refused and the models' own constraints hold (number ranges, finite floats,
  patterns), but nothing is imported, read or looked up.
* **A stored payload** (JSON decoded by Temporal's pydantic data converter,
  without the context): as code, and lenient besides: unknown fields are
  dropped (:class:`ConfigModel`), so a worker one version older decodes a plan
  with a new optional field. Nothing is imported, read or looked up, so
  decoding is safe inside the workflow sandbox.

This module imports nothing from ringctl, so every model module may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

__all__ = [
    "PLAN_FILE",
    "PLAN_FILE_CONTEXT",
    "ConfigModel",
    "StandaloneConfigModel",
    "is_payload",
    "plan_file_checks",
]

#: Key of the validation context under which the plan-file-only checks run.
PLAN_FILE = "ringctl.plan_file"
#: The validation context the plan loader passes: ``Plan.model_validate(data, context=PLAN_FILE_CONTEXT)``.
PLAN_FILE_CONTEXT: Mapping[str, bool] = MappingProxyType({PLAN_FILE: True})


def plan_file_checks(info: ValidationInfo) -> bool:
    """Whether this validation loads a plan file, so checks needing a library, a lookup or I/O may run."""
    context = info.context
    return isinstance(context, Mapping) and context.get(PLAN_FILE) is True


def is_payload(info: ValidationInfo) -> bool:
    """Whether this validation decodes a stored payload: JSON input, not a plan file."""
    return info.mode == "json" and not plan_file_checks(info)


class ConfigModel(BaseModel):
    """Base of the plan's models: immutable, finite floats, unknown fields refused except in payloads.

    ``extra="forbid"`` keeps ``ringctl schema`` saying ``additionalProperties:
    false`` and gives a person's YAML the ``unknown field`` error; a payload's
    unknown fields are dropped before validation (see the module docstring).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_fields_of_payloads(cls, data: Any, info: ValidationInfo) -> Any:
        if not is_payload(info) or not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        known.update(f.alias for f in cls.model_fields.values() if f.alias)
        if all(key in known for key in data):
            return data
        return {key: value for key, value in data.items() if key in known}


class StandaloneConfigModel(ConfigModel):
    """A :class:`ConfigModel` that also stands alone: built directly, it gets the plan-file checks.

    ``HolidayFreeze(country="XX", ...)`` or ``RingSchedule.model_validate(data)``
    is configuration a person (or a test) wrote, so the constructor and
    :meth:`model_validate` default to :data:`PLAN_FILE_CONTEXT`. Validated inside
    a :class:`~ringctl.core.plan.Plan` or a payload, the model follows that outer
    call's context instead.
    """

    def __init__(self, /, **data: Any) -> None:
        self.__pydantic_validator__.validate_python(data, self_instance=self, context=PLAN_FILE_CONTEXT)

    # Not a "custom" __init__ to pydantic (as in RootModel): validated inside another model, this
    # model keeps the outer call's context instead of being built through the constructor above.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """:meth:`pydantic.BaseModel.model_validate`, with the plan-file context unless one is given."""
        if kwargs.get("context") is None:
            kwargs["context"] = PLAN_FILE_CONTEXT
        return super().model_validate(obj, **kwargs)
