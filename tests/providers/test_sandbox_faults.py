"""The sandbox's fault scripting (issue 9): answers that come late after a change, and hung calls that time out."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ringctl.activities.region import RegionActivities
from ringctl.core.errors import TransientError
from ringctl.providers.models import DeployInput, Target
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxWorld, Scenario, write_scenario
from ringctl.providers.sandbox_scenario import DEFAULT_REQUEST_TIMEOUT

INITIAL = "sandbox/app:0"
TARGET = Target(region="r1", kube_context="r1", namespace="checkout", deployment="checkout", container="app")
REQUEST = DeployInput(
    target=TARGET, release_id="checkout@2.0.0", service="checkout", version="2.0.0", image="shop/checkout:2.0.0"
)


def on_disk(state_dir: Path, scenario: Scenario) -> SandboxDeployTarget:
    write_scenario(state_dir, scenario)
    return SandboxDeployTarget(SandboxWorld(state_dir=state_dir))


def test_after_deploy_commits_first_and_a_retry_keeps_the_first_undo_record(tmp_path: Path) -> None:
    sandbox = on_disk(tmp_path, Scenario(delays={"after_deploy": 0.6}))
    seen: list[str] = []
    worker = threading.Thread(target=sandbox.deploy, args=(REQUEST,))
    worker.start()
    time.sleep(0.3)  # the call has not answered yet
    observer = SandboxWorld(state_dir=tmp_path)  # another process's view: the change is already there
    seen.append(observer.image("r1"))
    worker.join()
    assert seen == [REQUEST.image]

    write_scenario(tmp_path, Scenario())
    retry = sandbox.deploy(REQUEST)  # the worker died before answering; Temporal retries
    assert retry.changed and retry.previous_image == INITIAL, "the undo record of the attempt that applied it"
    assert [call.action for call in observer.calls] == ["deploy"], "applied once"


def test_after_rollback_commits_first_and_a_retry_changes_nothing(tmp_path: Path) -> None:
    sandbox = on_disk(tmp_path, Scenario())
    undo = sandbox.deploy(REQUEST)
    write_scenario(tmp_path, Scenario(delays={"after_rollback": 0.4}))
    started = time.monotonic()
    assert sandbox.rollback(undo).changed
    assert time.monotonic() - started >= 0.4
    again = sandbox.rollback(undo)
    assert not again.changed and again.image == INITIAL
    assert [call.action for call in sandbox.world.calls] == ["deploy", "rollback"]


def test_a_call_hung_before_applying_times_out_and_changes_nothing(tmp_path: Path) -> None:
    sandbox = on_disk(tmp_path, Scenario(delays={"deploy": 600}, request_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"region r1: no answer to deploy within the 0.3 s request timeout"):
        sandbox.deploy(REQUEST)
    assert 0.3 <= time.monotonic() - started < 1
    assert sandbox.world.image("r1") == INITIAL and sandbox.world.calls == []


def test_a_call_hung_after_applying_times_out_and_its_retry_keeps_the_undo_record(tmp_path: Path) -> None:
    sandbox = on_disk(tmp_path, Scenario(delays={"after_deploy": 600}, request_timeout=0.3))
    with pytest.raises(TransientError, match="no answer to deploy"):
        sandbox.deploy(REQUEST)
    assert sandbox.world.image("r1") == REQUEST.image, "applied; only the answer was lost"
    retry = sandbox.deploy(REQUEST)  # no change to apply, so nothing to wait for
    assert retry.changed and retry.previous_image == INITIAL
    assert len(sandbox.world.calls) == 1
    with pytest.raises(TransientError, match="no answer to rollback"):
        on_disk(tmp_path, Scenario(delays={"after_rollback": 600}, request_timeout=0.3)).rollback(retry)
    assert sandbox.world.image("r1") == INITIAL


def test_a_hung_deploy_fails_the_activity_as_retryable_while_it_heartbeats() -> None:
    world = SandboxWorld(Scenario(delays={"deploy": 600}, request_timeout=1.5))
    env = ActivityEnvironment()
    beats: list[float] = []
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    with pytest.raises(ApplicationError) as caught:
        env.run(RegionActivities(SandboxDeployTarget(world)).deploy, REQUEST)
    assert caught.value.type == "TransientError" and not caught.value.non_retryable  # Temporal retries it
    assert len(beats) >= 2, "the activity stayed alive: a hung call is bounded by the request timeout, not heartbeats"
    assert world.calls == []


def test_scenario_file_keeps_the_new_delays_and_the_request_timeout() -> None:
    scripted = Scenario(delays={"after_deploy": 1, "after_rollback": 2}, request_timeout=4)
    assert Scenario.from_json(json.dumps(scripted.to_json())) == scripted
    assert Scenario().request_timeout == DEFAULT_REQUEST_TIMEOUT == 30.0
    for bad in ('{"request_timeout": 0}', '{"request_timeout": -1}', '{"delays": {"after_deplyo": 1}}'):
        with pytest.raises(ValueError):
            Scenario.from_json(bad)
