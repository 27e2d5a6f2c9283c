"""Load ``rings.yaml`` into a :class:`~ringctl.plan.Plan`, turning every failure into a :class:`PlanError`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ringctl.errors import PlanError
from ringctl.plan import Plan

#: The plan file used when none is given.
DEFAULT_PLAN = "rings.yaml"


def load_plan(path: str | Path = DEFAULT_PLAN) -> Plan:
    """Read and validate a plan file.

    Raises :class:`PlanError` naming the file, the field path and the bad value.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(name, [f"cannot read file: {exc.strerror or exc}"]) from exc
    return parse_plan(text, name)


def parse_plan(text: str, name: str = DEFAULT_PLAN) -> Plan:
    """Validate plan YAML given as text; ``name`` is used in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(name, [f"{where}invalid YAML: {problem}"]) from exc
    if not isinstance(data, dict):
        raise PlanError(name, [f"expected a mapping with services, staging and rings, got {_show(data)}"])
    # Top-level ``x-`` keys hold YAML anchors to reuse (as in Compose files); they are not plan fields.
    data = {key: value for key, value in data.items() if not str(key).startswith("x-")}
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(name, [_describe(e) for e in exc.errors()]) from exc


def _describe(error: Any) -> str:
    loc = _path(error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{loc}: field required"
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown field"
    if not loc:  # a plan-wide check; the message carries its own path
        return msg
    return f"{loc}: {msg} (got {_show(error.get('input'))})"


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(value)
