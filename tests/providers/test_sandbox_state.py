"""The sandbox world on disk, its scenario file and delays, and the worker's flags (issue 8, A and C)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.plan import Region, ThresholdGate
from ringctl.providers.factory import default_sandbox_state, make_providers
from ringctl.providers.models import DeployInput, RolloutState, Target, UndoRecord
from ringctl.providers.sandbox import (
    ANY_VERSION,
    SCENARIO_FILE,
    SandboxDeployTarget,
    SandboxMetricsSource,
    SandboxWorld,
    Scenario,
    write_scenario,
)
from ringctl.workflows.models import RegionState, ReleaseState, ReleaseStatus
from tests.support.cli_runs import RINGCTL
from tests.support.plans import SERVICE, make_plan, region, ring
from tests.support.release_waits import wait_for

INITIAL = "sandbox/app:0"


def target(region: str = "r1", service: str = "checkout") -> Target:
    return Target(region=region, kube_context=region, namespace=service, deployment=service, container="app")


def request(version: str, region: str = "r1", service: str = "checkout") -> DeployInput:
    return DeployInput(
        target=target(region, service),
        release_id=f"{service}@{version}",
        service=service,
        version=version,
        image=f"shop/{service}:{version}",
    )


@contextmanager
def world_on(state_dir: Path, scenario: Scenario | None = None) -> Iterator[SandboxWorld]:
    world = SandboxWorld(scenario, state_dir=state_dir)
    try:
        yield world
    finally:
        world.close()


# -- state kept on disk ---------------------------------------------------------


def test_a_restarted_world_rolls_back_what_the_previous_one_deployed(tmp_path: Path) -> None:
    with world_on(tmp_path) as world:
        first = SandboxDeployTarget(world).deploy(request("1.0.0"))
        second = SandboxDeployTarget(world).deploy(request("2.0.0"))
    assert (tmp_path / "sandbox.db").is_file()
    assert first.changed and second.changed and second.previous_image == "shop/checkout:1.0.0"

    with world_on(tmp_path) as restarted:  # a new worker process on the same directory
        assert restarted.image("r1") == "shop/checkout:2.0.0"
        result = SandboxDeployTarget(restarted).rollback(second)
        assert result.changed and result.image == "shop/checkout:1.0.0"
        assert restarted.image("r1") == "shop/checkout:1.0.0" and restarted.version("r1") == "1.0.0"
        assert [(c.action, c.image) for c in restarted.calls] == [
            ("deploy", "shop/checkout:1.0.0"),
            ("deploy", "shop/checkout:2.0.0"),
            ("rollback", "shop/checkout:1.0.0"),
        ]
        assert {c.workload for c in restarted.calls} == {"r1/checkout/checkout"}
        again = SandboxDeployTarget(restarted).rollback(second)
        assert not again.changed and again.message == "already there"


def test_a_retried_deploy_after_a_restart_keeps_the_undo_record(tmp_path: Path) -> None:
    """The first attempt's deploy landed but its worker died before reporting: the retry can still undo it."""
    with world_on(tmp_path) as world:
        SandboxDeployTarget(world).deploy(request("2.0.0"))
    with world_on(tmp_path) as restarted:
        retry = SandboxDeployTarget(restarted).deploy(request("2.0.0"))
        assert retry.changed and retry.previous_image == INITIAL and retry.previous_revision == 1
        assert len(restarted.calls) == 1, "the retry changed nothing"
        assert SandboxDeployTarget(restarted).rollback(retry).changed
        assert restarted.image("r1") == INITIAL


def test_two_services_in_one_region_are_independent(tmp_path: Path) -> None:
    for world in (SandboxWorld(), SandboxWorld(state_dir=tmp_path)):
        sandbox = SandboxDeployTarget(world)
        checkout = sandbox.deploy(request("2.0.0", service="checkout"))
        payments = sandbox.deploy(request("7.0.0", service="payments"))
        assert payments.changed and payments.previous_image == INITIAL, "payments did not inherit checkout's image"
        assert sandbox.rollback(checkout).changed
        assert world.image("r1", "checkout") == INITIAL
        assert world.image("r1", "payments") == "shop/payments:7.0.0", "rolling back checkout left payments alone"
        assert sandbox.rollout_status(target(service="payments")).state is RolloutState.COMPLETE
        with pytest.raises(ValueError, match="name the deployment"):
            world.image("r1")
        world.close()


def test_a_killed_writer_leaves_no_half_deploy(tmp_path: Path) -> None:
    """Each change is one transaction: a failure between its statements leaves the workload as it was."""
    with world_on(tmp_path) as world:
        sandbox = SandboxDeployTarget(world)
        sandbox.deploy(request("1.0.0"))
        original = world._store

        def crash(*args: object, **kwargs: object) -> None:
            original(*args, **kwargs)  # type: ignore[arg-type]
            raise KeyboardInterrupt  # the process dies after the first write

        world._store = crash  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            sandbox.deploy(request("2.0.0"))
    with world_on(tmp_path) as restarted:
        assert restarted.image("r1") == "shop/checkout:1.0.0"
        assert [c.image for c in restarted.calls] == ["shop/checkout:1.0.0"]


def test_many_threads_deploy_at_once(tmp_path: Path) -> None:
    with world_on(tmp_path) as world:
        sandbox = SandboxDeployTarget(world)

        async def all_regions() -> list[UndoRecord]:
            calls = [asyncio.to_thread(sandbox.deploy, request("2.0.0", f"r{i}")) for i in range(40)]
            return await asyncio.gather(*calls)

        undos = asyncio.run(all_regions())
        assert all(undo.changed for undo in undos)
        assert sorted(c.region for c in world.calls) == sorted(f"r{i}" for i in range(40))


# -- the scenario file -----------------------------------------------------------


def test_scenario_file_changes_are_picked_up(tmp_path: Path) -> None:
    with world_on(tmp_path) as world:
        sandbox = SandboxDeployTarget(world)
        sandbox.deploy(request("2.0.0"))
        assert world.scenario == Scenario(), "no file: healthy"
        assert sandbox.rollout_status(target()).state is RolloutState.COMPLETE

        write_scenario(tmp_path, Scenario(bad_rollouts={"r1": {"2.0.0"}}))
        assert sandbox.rollout_status(target()).state is RolloutState.FAILED
        write_scenario(tmp_path, Scenario(bad_rollouts={"r1": {"9.9.9"}}, rollout_polls=5))
        assert sandbox.rollout_status(target()).state is RolloutState.PROGRESSING

        (tmp_path / SCENARIO_FILE).write_text('{"bad_gates": {"r1": ["*"]}, "typo": 1}')
        with structlog.testing.capture_logs() as logs:
            assert world.scenario == Scenario(), "invalid: healthy"
            assert world.scenario == Scenario()
        assert [entry["event"] for entry in logs] == ["invalid sandbox scenario; using a healthy one"], "logged once"

        write_scenario(tmp_path, Scenario(bad_gates={"r1": {ANY_VERSION}}))
        assert world.scenario.bad_gates == {"r1": {ANY_VERSION}}
        (tmp_path / SCENARIO_FILE).unlink()
        assert world.scenario == Scenario(), "missing again: healthy"


def test_scenario_file_format(tmp_path: Path) -> None:
    (tmp_path / SCENARIO_FILE).write_text(
        '{"bad_rollouts": {"eu-west-1": ["2.0.0"]}, "bad_gates": {"us-east-1": ["*"]}, "no_data": {},'
        ' "exhausted_budget": ["budget-1"], "rollout_polls": 3,'
        ' "delays": {"deploy": 2, "rollout": 0.5, "gates": 0, "rollback": 1.5}}'
    )
    with world_on(tmp_path) as world:
        assert world.scenario == Scenario(
            bad_rollouts={"eu-west-1": {"2.0.0"}},
            bad_gates={"us-east-1": {"*"}},
            exhausted_budget={"budget-1"},
            rollout_polls=3,
            delays={"deploy": 2.0, "rollout": 0.5, "gates": 0.0, "rollback": 1.5},
        )
    scripted = Scenario(bad_gates={"x": {"1", "*"}}, exhausted_budget={"y"}, delays={"gates": 1})
    assert Scenario.from_json(json.dumps(scripted.to_json())) == scripted
    for bad in ('{"delays": {"deplyo": 1}}', '{"delays": {"deploy": -1}}', '{"rollout_polls": 0}', "[]", "{"):
        with pytest.raises(ValueError):
            Scenario.from_json(bad)


def test_an_in_memory_world_ignores_no_file_and_keeps_its_scenario() -> None:
    scenario = Scenario(bad_gates={"r1": {ANY_VERSION}})
    world = SandboxWorld(scenario)
    assert world.scenario is scenario and world.state_dir is None
    world.scenario.bad_gates.clear()  # tests script the world while a release runs
    assert world.scenario.bad_gates == {}


# -- delays ---------------------------------------------------------------------


def test_delays_slow_every_provider_call() -> None:
    world = SandboxWorld(Scenario(delays={"deploy": 0.4, "rollout": 0.3, "rollback": 0.2}))
    sandbox = SandboxDeployTarget(world)

    def timed(call: object, *args: object) -> float:
        started = time.monotonic()
        call(*args)  # type: ignore[operator]
        return time.monotonic() - started

    undo = sandbox.deploy(request("2.0.0"))
    assert timed(sandbox.deploy, request("3.0.0")) >= 0.4
    assert timed(sandbox.rollout_status, target()) >= 0.3
    assert timed(sandbox.rollback, undo) >= 0.2


async def test_gates_delay_slows_each_measurement(tmp_path: Path) -> None:
    write_scenario(tmp_path, Scenario(delays={"gates": 0.3}))
    with world_on(tmp_path) as world:
        source = SandboxMetricsSource(world)
        gate = ThresholdGate.model_validate({"name": "g", "query": "up", "comparison": "<=", "threshold": 1})
        where = Region.model_validate(region("r1"))
        started = time.monotonic()
        await asyncio.gather(*(source.measure(gate, where, {"version": "1"}, "") for _ in range(3)))
        assert 0.3 <= time.monotonic() - started < 0.8, "each measurement sleeps, concurrently"


# -- the worker's flags -----------------------------------------------------------


def test_sandbox_providers_share_a_world_in_the_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "a" / "b"
    target_, source = make_providers("sandbox", "sandbox", sandbox_state=state)
    assert isinstance(target_, SandboxDeployTarget) and isinstance(source, SandboxMetricsSource)
    assert target_.world is source.world and target_.world.state_dir == state
    assert (state / "sandbox.db").is_file(), "created if missing"
    target_.world.close()


def test_default_sandbox_state_is_under_the_xdg_state_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert default_sandbox_state() == Path("/srv/state/ringctl/sandbox")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_sandbox_state() == Path.home() / ".local" / "state" / "ringctl" / "sandbox"


def test_worker_refuses_a_missing_kubeconfig() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [RINGCTL, "worker", "--kubeconfig", "/nonexistent", "--address", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
    )
    assert done.returncode == 1
    assert done.stderr == "error: --kubeconfig /nonexistent: no such file\n"
    assert done.stdout == ""
    assert time.monotonic() - started < 30, "never tried to connect"


def test_worker_refuses_a_kubeconfig_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [RINGCTL, "worker", "--kubeconfig", str(tmp_path), "--address", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (1, f"error: --kubeconfig {tmp_path}: not a file\n")


# -- a worker in another process ----------------------------------------------------


@contextmanager
def worker_process(env: WorkflowEnvironment, task_queue: str, state: Path) -> Iterator[subprocess.Popen[str]]:
    """``ringctl worker`` with the sandbox providers on ``state``, as a subprocess; killed (SIGKILL) afterwards."""
    environ = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "RINGCTL_SANDBOX_STATE": str(state),
    }
    command = [RINGCTL, "worker", "--deploy-target", "sandbox", "--metrics-source", "sandbox"]
    process = subprocess.Popen(
        [*command, "--task-queue", task_queue], env=environ, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "worker polling task queue" in line and str(state) in line, line
        threading.Thread(target=process.stderr.read, daemon=True).start()  # never let a full pipe block it
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


async def test_a_killed_worker_process_is_replaced_and_the_rollback_restores_every_region(
    env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
) -> None:
    """Crash test: SIGKILL the worker while the canary bakes; a new process on the same state rolls everything back."""
    state = tmp_path / "sandbox"
    write_scenario(state, Scenario(bad_gates={"us-east-1": {ANY_VERSION}}))
    plan = make_plan(
        staging=ring("staging", region("staging-1")),
        rings=[ring("canary", region("canary-1"), bake="5s"), ring("na-eu", region("us-east-1"))],
    )
    with worker_process(env, task_queue, state):
        handle = await start_release(
            client, plan, service=SERVICE, version="2.0.0", started_by="ci-pipeline", task_queue=task_queue
        )

        def canary_healthy(status: ReleaseStatus) -> bool:
            return status.rings[1].regions[0].state is RegionState.HEALTHY

        await wait_for(handle, canary_healthy)
    with worker_process(env, task_queue, state):
        final: ReleaseStatus = await asyncio.wait_for(ended_status(handle, rpc_timeout=None), timeout=120)
    assert final.state is ReleaseState.ROLLED_BACK, final.reason
    with world_on(state) as world:  # what the two worker processes did, seen from this one
        assert {r: world.image(r) for r in ("staging-1", "canary-1", "us-east-1")} == dict.fromkeys(
            ("staging-1", "canary-1", "us-east-1"), INITIAL
        )
        calls = sorted((c.action, c.region, c.image) for c in world.calls)
        new = "registry.example.com/checkout:2.0.0"
        assert calls == sorted(
            [
                (action, r, new if action == "deploy" else INITIAL)
                for r in ("staging-1", "canary-1", "us-east-1")
                for action in ("deploy", "rollback")
            ]
        ), "each region received each image exactly once"


def test_a_workload_started_from_a_digest_reports_the_digest_as_its_version() -> None:
    digest = "sandbox/app@sha256:" + "ab" * 32
    world = SandboxWorld(initial_image=digest)
    try:
        assert world.version("r1") == digest
    finally:
        world.close()
