"""The one documented way to run a plan faster than written: ``ringctl release start --speed N``.

Demos and tests run the shipped ``rings.yaml`` as it is, only faster. ``N``
divides the plan's waiting times, nothing else:

* every ring's ``bake`` (an evidence bake's ``min`` and ``max``) and the plan's post-release ``watch``;
* every gate and SLO evaluation ``interval`` and the ``alarms`` re-check interval (never below :data:`MIN_INTERVAL`);
* every ring's ``rollout_timeout`` (never below :data:`MIN_ROLLOUT_TIMEOUT`).

Everything a person decided stays in force: deployment windows, freezes, public
holidays, approvals and their signing, thresholds, PromQL range windows, SLO
windows and ``rollback_retention``. The release records the speed it runs at
(its input and the ``start`` event of its audit), so nobody mistakes a
shortened run for a real one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI reads MAX_SPEED without importing the plan models
    from ringctl.core.bake import EvidenceBake
    from ringctl.core.plan import Plan, Ring, Slo, SloOverride

#: Evaluation intervals are never shortened below this (each evaluation is history and a query).
MIN_INTERVAL = timedelta(seconds=1)
#: A rollout is never given less than this to complete.
MIN_ROLLOUT_TIMEOUT = timedelta(seconds=10)
#: The largest speed accepted: a day's bake becomes under nine seconds.
MAX_SPEED = 10_000.0


def check_speed(speed: float) -> float:
    """``speed`` if it is a usable factor (1 to :data:`MAX_SPEED`); ``ValueError`` naming it otherwise."""
    if not 1.0 <= speed <= MAX_SPEED:  # also refuses NaN
        raise ValueError(f"--speed must be between 1 and {MAX_SPEED:g}, got {speed!r}")
    return speed


def scale_plan(plan: Plan, speed: float) -> Plan:
    """``plan`` with its bakes, watch, evaluation intervals and rollout timeouts divided by ``speed``."""
    if check_speed(speed) == 1.0:
        return plan
    services = [
        service.model_copy(update={"slos": [_scale_slo(slo, speed) for slo in service.slos]})
        for service in plan.services
    ]
    stages = [_scale_ring(ring, speed) for ring in plan.stages]
    alarms = plan.alarms and plan.alarms.model_copy(
        update={"interval": _shorter(plan.alarms.interval, speed, MIN_INTERVAL)}
    )
    return plan.model_copy(
        update={
            "services": services,
            "staging": stages[0],
            "rings": stages[1:],
            "alarms": alarms,
            "watch": _shorter(plan.watch, speed),
        }
    )


def _shorter(value: timedelta, speed: float, floor: timedelta = timedelta(0)) -> timedelta:
    return max(value / speed, min(floor, value))


def _scale_slo(slo: Slo, speed: float) -> Slo:
    return slo.model_copy(update={"interval": _shorter(slo.interval, speed, MIN_INTERVAL)})


def _scale_override(override: SloOverride, speed: float) -> SloOverride:
    if override.interval is None:
        return override
    return override.model_copy(update={"interval": _shorter(override.interval, speed, MIN_INTERVAL)})


def _scale_bake(ring: Ring, speed: float) -> timedelta | EvidenceBake:
    if isinstance(ring.bake, timedelta):
        return _shorter(ring.bake, speed)
    most = ring.bake.max and _shorter(ring.bake.max, speed)
    return ring.bake.model_copy(update={"min": _shorter(ring.bake.min, speed), "max": most})


def _scale_ring(ring: Ring, speed: float) -> Ring:
    return ring.model_copy(
        update={
            "bake": _scale_bake(ring, speed),
            "rollout_timeout": _shorter(ring.rollout_timeout, speed, MIN_ROLLOUT_TIMEOUT),
            "gates": [g.model_copy(update={"interval": _shorter(g.interval, speed, MIN_INTERVAL)}) for g in ring.gates],
            "slo_overrides": {name: _scale_override(o, speed) for name, o in ring.slo_overrides.items()},
        }
    )


__all__ = ["MAX_SPEED", "MIN_INTERVAL", "MIN_ROLLOUT_TIMEOUT", "check_speed", "scale_plan"]
