"""Load ``rings.yaml`` into a :class:`~ringctl.core.plan.Plan`, turning every failure into a :class:`PlanError`.

Whatever the file holds, loading it ends quickly with a plan or a
:class:`PlanError` whose problems are single lines ``[field path or line]:
message (got VALUE)``, never another exception:

* only a regular file of at most :data:`MAX_PLAN_BYTES` is read (a FIFO, a
  device such as ``/dev/zero`` or a directory is refused without reading it);
* it must be UTF-8 text without NUL bytes;
* the YAML is read by :func:`ringctl.core.safeyaml.load_yaml` (duplicate keys,
  nesting, alias expansion and size are bounded);
* the plan is validated with the plan-file checks
  (:data:`~ringctl.core.planchecks.PLAN_FILE_CONTEXT`), and at most
  :data:`MAX_PROBLEMS` problems are listed, each value shown cut short.
"""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ringctl.core.constants import DEFAULT_PLAN
from ringctl.core.errors import PlanError
from ringctl.core.plan import Plan
from ringctl.core.planchecks import PLAN_FILE_CONTEXT
from ringctl.core.planrules import PLAN_RULE, path
from ringctl.core.safeyaml import load_yaml

#: Largest plan file read, in bytes.
MAX_PLAN_BYTES = 1024 * 1024
#: Most problems listed for one file; the rest are counted.
MAX_PROBLEMS = 20
#: Longest shown value (``got ...``) and message, in characters.
MAX_SHOWN = 60
MAX_MESSAGE = 300

#: Characters YAML does not allow in a document (C0 and C1 controls but tab, newlines and NEL; noncharacters).
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")

_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def load_plan(path: str | Path = DEFAULT_PLAN) -> Plan:
    """Read and validate a plan file.

    Raises :class:`PlanError` naming the file, the field path and the bad value.
    """
    name = str(path)
    return parse_plan(_decode(_read(path, name), name), name)


def parse_plan(text: str, name: str = DEFAULT_PLAN) -> Plan:
    """Validate plan YAML given as text; ``name`` is used in error messages."""
    if len(text) > MAX_PLAN_BYTES:
        raise PlanError(name, [f"plan too large: more than {MAX_PLAN_BYTES} characters"])
    if "\0" in text:
        at = text.index("\0")
        raise PlanError(name, [f"{_line_of(text, at)}: not UTF-8 text: a NUL byte at offset {at} (UTF-16 or binary?)"])
    control = _CONTROL.search(text)
    if control is not None:
        where, code = _line_of(text, control.start()), ord(control.group())
        raise PlanError(name, [f"{where}: invalid YAML: control character U+{code:04X} is not allowed"])
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise PlanError(name, [_yaml_problem(exc)]) from None
    except Exception as exc:  # belt and braces: load_yaml reports what it knows (RecursionError, MemoryError too)
        raise PlanError(name, [f"invalid YAML: {_cut(f'{type(exc).__name__}: {exc}')}"]) from None
    if not isinstance(data, dict):
        raise PlanError(name, [f"expected a mapping with services, staging and rings, got {_show(data)}"])
    # Top-level ``x-`` keys hold YAML anchors to reuse (as in Compose files); they are not plan fields.
    data = {key: value for key, value in data.items() if not str(key).startswith("x-")}
    try:
        return Plan.model_validate(data, context=PLAN_FILE_CONTEXT)
    except ValidationError as exc:
        raise PlanError(name, _problems(exc)) from None


def _read(path: str | Path, name: str) -> bytes:
    """The bytes of the regular file ``path``, at most :data:`MAX_PLAN_BYTES` of them, read without blocking."""
    try:
        kind = _FILE_KINDS.get(stat.S_IFMT(os.stat(path).st_mode))
        if kind is not None:
            raise PlanError(name, [f"cannot read file: it is {kind}, not a regular file"])
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise PlanError(name, [f"cannot read file: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PlanError(name, ["cannot read file: not a regular file"])
        if info.st_size > MAX_PLAN_BYTES:
            raise PlanError(name, [f"file too large: {info.st_size} bytes, at most {MAX_PLAN_BYTES}"])
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_PLAN_BYTES:
            chunk = os.read(fd, MAX_PLAN_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PlanError(name, [f"cannot read file: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    if size > MAX_PLAN_BYTES:
        raise PlanError(name, [f"file too large: more than {MAX_PLAN_BYTES} bytes"])
    return b"".join(chunks)


def _decode(data: bytes, name: str) -> str:
    """``data`` as text: UTF-8 (a BOM is allowed), else one problem naming the line and the bad byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PlanError(name, ["line 1: not UTF-8 text: it starts with a UTF-16 or UTF-32 byte order mark"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise PlanError(name, [f"line {line}: not UTF-8 text: byte 0x{bad} at offset {exc.start}"]) from None


def _line_of(text: str, index: int) -> str:
    """``line L, column C`` of ``text[index]``."""
    line = text.count("\n", 0, index) + 1
    return f"line {line}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{where}invalid YAML: {_cut(problem)}"


def _problems(exc: ValidationError) -> list[str]:
    errors = exc.errors(include_url=False)
    problems = [_describe(e) for e in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        more = len(errors) - MAX_PROBLEMS
        problems.append(f"… and {more} more problem{'s' if more != 1 else ''}")
    return problems


def _describe(error: Any) -> str:
    loc = _path(error["loc"])
    msg = _cut(str(error["msg"]).removeprefix("Value error, "))
    if error["type"] == "missing":
        return f"{loc}: field required"
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown field"
    if not loc or ", got " in msg or error["type"] == PLAN_RULE:  # these messages quote the value themselves
        return f"{loc}: {msg}" if loc else msg
    return f"{loc}: {msg} (got {_show(error.get('input'))})"


def _path(loc: tuple[Any, ...]) -> str:
    return path(tuple(part if isinstance(part, int) else _cut(str(part), MAX_SHOWN) for part in loc))


def _cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _show(value: Any) -> str:
    """``value`` as ``repr`` (a scalar) or JSON (a collection), cut to :data:`MAX_SHOWN` characters.

    Bounded work: a huge value is never rendered whole.
    """
    parts: list[str] = []
    budget = [MAX_SHOWN + 1]
    _render(value, parts, budget, nested=False)
    text = "".join(parts)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _render(value: Any, parts: list[str], budget: list[int], nested: bool) -> None:
    """Append ``value``'s rendering to ``parts`` until ``budget[0]`` characters are used up."""
    if isinstance(value, dict):
        _emit("{", parts, budget)
        for i, (key, item) in enumerate(value.items()):
            if budget[0] <= 0:
                return
            _emit((", " if i else "") + _scalar(str(key), budget[0], nested=True) + ": ", parts, budget)
            _render(item, parts, budget, nested=True)
        _emit("}", parts, budget)
    elif isinstance(value, (list, tuple)):
        _emit("[", parts, budget)
        for i, item in enumerate(value):
            if budget[0] <= 0:
                return
            _emit(", " if i else "", parts, budget)
            _render(item, parts, budget, nested=True)
        _emit("]", parts, budget)
    else:
        _emit(_scalar(value, budget[0], nested), parts, budget)


def _scalar(value: Any, budget: int, nested: bool) -> str:
    """A scalar built from at most ``budget`` characters of it: JSON inside a collection, else ``repr``."""
    keep = max(budget, 0)
    if isinstance(value, str):
        return json.dumps(value[:keep], ensure_ascii=False) if nested else repr(value[:keep])
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value[:keep]))
    if isinstance(value, date):  # and datetime: as written in YAML
        return json.dumps(value.isoformat()) if nested else repr(value.isoformat())
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    if nested and (value is None or isinstance(value, bool)):
        return json.dumps(value)
    if nested and not isinstance(value, (int, float)):
        return json.dumps(str(value)[:keep], ensure_ascii=False)
    return repr(value)[: keep + 1]


def _emit(text: str, parts: list[str], budget: list[int]) -> None:
    if budget[0] > 0:
        parts.append(text[: budget[0]])
    budget[0] -= len(text)
