"""Region activities heartbeat while a slow provider works, and stop waiting when cancelled (issue 8, B)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from ringctl.activities.models import RollbackInput, WaitRolloutInput
from ringctl.activities.region import HEARTBEAT_EVERY, RegionActivities
from ringctl.core.errors import ConfigError
from ringctl.providers.models import DeployInput, RollbackResult, RolloutState, Target, UndoRecord
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxWorld, Scenario

TARGET = Target(region="r1", kube_context="r1", namespace="checkout", deployment="checkout", container="app")
REQUEST = DeployInput(
    target=TARGET, release_id="checkout@2.0.0", service="checkout", version="2.0.0", image="shop/checkout:2.0.0"
)


def slow(**delays: float) -> tuple[SandboxWorld, RegionActivities]:
    world = SandboxWorld(Scenario(delays=delays))
    return world, RegionActivities(SandboxDeployTarget(world), poll_interval=timedelta(milliseconds=50))


def recording() -> tuple[ActivityEnvironment, list[float]]:
    env = ActivityEnvironment()
    beats: list[float] = []
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    return env, beats


def test_heartbeat_contract_fits_a_five_second_heartbeat_timeout() -> None:
    assert HEARTBEAT_EVERY <= 1.0


def test_slow_deploy_heartbeats_every_second() -> None:
    world, region = slow(deploy=2.5)
    env, beats = recording()
    started = time.monotonic()
    undo = env.run(region.deploy, REQUEST)
    assert undo.changed and world.image("r1") == REQUEST.image
    assert time.monotonic() - started >= 2.5
    assert len(beats) >= 2, beats
    assert all(b - a <= HEARTBEAT_EVERY + 0.3 for a, b in zip([started, *beats], beats, strict=False))


def test_slow_rollback_heartbeats_every_second() -> None:
    world, region = slow(rollback=2.5)
    env, beats = recording()
    undo = env.run(region.deploy, REQUEST)
    beats.clear()
    result = env.run(region.rollback, RollbackInput(undo=undo))
    assert result.changed and world.image("r1") == "sandbox/app:0"
    assert len(beats) >= 2, beats


def test_slow_rollout_status_heartbeats_with_the_deadline_first() -> None:
    _, region = slow(rollout=2.2)
    env, _ = recording()
    details: list[tuple[object, ...]] = []
    env.on_heartbeat = lambda *d: details.append(d)
    env.run(region.deploy, REQUEST)
    details.clear()
    status = env.run(region.wait_rollout, WaitRolloutInput(target=TARGET, release_id="r", timeout=timedelta(minutes=1)))
    assert status.state is RolloutState.COMPLETE
    assert len(details) >= 3, details  # 2.2 s in the provider, then the poll's own heartbeat
    assert len({d[0] for d in details}) == 1, "every heartbeat carries the same deadline"


def test_cancelled_deploy_stops_waiting_at_once() -> None:
    world, region = slow(deploy=30)
    env, beats = recording()
    threading.Timer(0.5, env.cancel).start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        env.run(region.deploy, REQUEST)
    assert time.monotonic() - started < 2
    time.sleep(0.3)  # the sandbox's own sleep notices the cancellation too: nothing deployed
    assert world.image("r1") == "sandbox/app:0" and not world.calls


class Stuck(SandboxDeployTarget):
    """A sandbox target whose rollback blocks (uninterruptibly) until released."""

    def __init__(self) -> None:
        super().__init__(SandboxWorld())
        self.release = threading.Event()

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        self.release.wait(30)
        return super().rollback(undo)


def test_cancelled_rollback_stops_waiting_even_if_the_provider_call_hangs() -> None:
    target = Stuck()
    region = RegionActivities(target)
    env, beats = recording()
    undo = UndoRecord.of(REQUEST, "sandbox/app:0", 1, changed=True)
    threading.Timer(1.5, env.cancel).start()
    started = time.monotonic()
    try:
        with pytest.raises(CancelledError):
            env.run(region.rollback, RollbackInput(undo=undo))
        assert time.monotonic() - started < 2.5
        assert len(beats) >= 2, "heartbeats while the provider hangs"
    finally:
        target.release.set()


def test_fast_deploy_returns_without_waiting_for_a_heartbeat() -> None:
    _, region = slow()
    env, _ = recording()
    started = time.monotonic()
    env.run(region.deploy, REQUEST)
    assert time.monotonic() - started < 0.5


class Broken:
    """A deploy target whose calls fail as configured."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def deploy(self, request: DeployInput) -> UndoRecord:
        raise self.error

    def rollout_status(self, target: Target) -> None:
        raise self.error

    def rollback(self, undo: UndoRecord) -> None:
        raise self.error


def test_config_errors_stay_non_retryable_and_others_pass_through() -> None:
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as info:
        env.run(RegionActivities(Broken(ConfigError("no context r1"))).deploy, REQUEST)  # type: ignore[arg-type]
    assert info.value.non_retryable and info.value.type == "ConfigError" and "no context r1" in str(info.value)
    with pytest.raises(RuntimeError, match="boom"):
        env.run(RegionActivities(Broken(RuntimeError("boom"))).deploy, REQUEST)  # type: ignore[arg-type]
