"""What a sandbox world is scripted to do: :class:`Scenario`, its ``scenario.json`` file, and slow calls.

A scenario says which versions misbehave where, and how a simulated provider
call is slow: a delay before a call does its work (``deploy``, ``rollout``,
``rollback``, per measurement for ``gates``), or after a change was committed
and before the call answers (``after_deploy``, ``after_rollback``: a worker
killed then leaves a change whose answer never arrived). A delay longer than
the scenario's ``request_timeout`` is a provider that stopped answering: the
call waits that long and raises :class:`~ringctl.core.errors.TransientError`, as the
Kubernetes client's read timeout does (``ringctl.providers.kubernetes.REQUEST_TIMEOUT``).
:mod:`ringctl.providers.sandbox` re-exports everything here.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat
from temporalio import activity
from temporalio.exceptions import CancelledError

from ringctl.core.errors import TransientError

#: Matches every version in a :class:`Scenario` entry.
ANY_VERSION = "*"
#: The scenario file of a world kept in a state directory.
SCENARIO_FILE = "scenario.json"
#: The kinds of delay a scenario can script (``Scenario.delays``); ``after_*`` run after the change is committed.
DelayKind = Literal["deploy", "after_deploy", "rollout", "gates", "rollback", "after_rollback"]
#: A slow call sleeps in steps this long (seconds), checking for cancellation between them.
SLEEP_STEP = 0.05
#: Seconds a provider call waits for an answer by default: the Kubernetes client's read timeout.
DEFAULT_REQUEST_TIMEOUT = 30.0


@dataclass
class Scenario:
    """Scripted health: region name -> versions that misbehave there (``"*"`` for all)."""

    bad_rollouts: dict[str, set[str]] = field(default_factory=dict)
    bad_gates: dict[str, set[str]] = field(default_factory=dict)
    no_data: dict[str, set[str]] = field(default_factory=dict)
    #: Regions whose error budget is spent (error-budget gates before a ring breach there).
    exhausted_budget: set[str] = field(default_factory=set)
    #: Region name -> names of the page alerts firing there (the plan's ``alarms:`` queries return them).
    alarms: dict[str, set[str]] = field(default_factory=dict)
    rollout_polls: int = 1
    #: Seconds one call takes, per :data:`DelayKind`: a slow provider. ``gates`` is per measurement.
    delays: dict[str, float] = field(default_factory=dict)
    #: Seconds a deploy, rollout or rollback call waits for its answer; a longer delay times out (a hung provider).
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    @staticmethod
    def matches(table: dict[str, set[str]], region: str, version: str) -> bool:
        """Whether ``table`` marks ``version`` in ``region``."""
        versions = table.get(region, set())
        return version in versions or ANY_VERSION in versions

    def delay(self, kind: DelayKind) -> float:
        """Seconds a call of ``kind`` takes (0 unless the scenario slows it down)."""
        return self.delays.get(kind, 0.0)

    def to_json(self) -> dict[str, Any]:
        """The ``scenario.json`` form of this scenario; ``ValueError`` if a field is out of range."""
        return _ScenarioFile.model_validate(asdict(self)).model_dump(mode="json")

    @classmethod
    def from_json(cls, text: str | bytes) -> Scenario:
        """Parse ``scenario.json`` (every field optional); ``ValueError`` if it is not one."""
        parsed = _ScenarioFile.model_validate_json(text)
        return cls(**{name: getattr(parsed, name) for name in _ScenarioFile.model_fields})


class _ScenarioFile(BaseModel):
    """The ``scenario.json`` schema: :class:`Scenario`'s fields, unknown ones refused."""

    model_config = ConfigDict(extra="forbid")

    bad_rollouts: dict[str, set[str]] = {}
    bad_gates: dict[str, set[str]] = {}
    no_data: dict[str, set[str]] = {}
    exhausted_budget: set[str] = set()
    alarms: dict[str, set[str]] = {}
    rollout_polls: int = Field(default=1, ge=1)
    delays: dict[DelayKind, NonNegativeFloat] = {}
    request_timeout: PositiveFloat = DEFAULT_REQUEST_TIMEOUT


def write_scenario(state_dir: str | Path, scenario: Scenario) -> Path:
    """Write ``scenario`` as ``<state_dir>/scenario.json`` atomically; worlds on that directory pick it up."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".scenario-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(scenario.to_json(), file, indent=2)
    path = directory / SCENARIO_FILE
    os.replace(temporary, path)  # a new inode: readers see the change even within one mtime tick
    return path


def sleep_cancellably(seconds: float) -> None:
    """Sleep in :data:`SLEEP_STEP` steps; raise ``CancelledError`` once the calling activity is cancelled."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if activity.in_activity() and activity.is_cancelled():
            raise CancelledError("sandbox call cancelled")
        time.sleep(min(left, SLEEP_STEP))


def take(scenario: Scenario, kind: DelayKind, where: str) -> None:
    """Take as long as ``scenario`` delays a call of ``kind`` in region ``where``.

    A delay beyond ``scenario.request_timeout`` is a provider that does not
    answer: wait out the timeout, then raise :class:`~ringctl.core.errors.TransientError`.
    """
    delay, timeout = scenario.delay(kind), scenario.request_timeout
    if delay <= timeout:
        sleep_cancellably(delay)
        return
    sleep_cancellably(timeout)
    call = kind.removeprefix("after_")
    raise TransientError(f"sandbox region {where}: no answer to {call} within the {timeout:g} s request timeout")
