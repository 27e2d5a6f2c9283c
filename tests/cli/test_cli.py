"""The ``ringctl`` command line end to end, as a subprocess against the real dev server."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld
from tests.support.cli_runs import ringctl as run_ringctl
from tests.support.plans import plan_data
from tests.support.polling import eventually
from tests.support.workers import sandbox_worker


async def ringctl(env: WorkflowEnvironment, *args: str, actor: str = "ci-pipeline") -> tuple[int, str, str]:
    """Run the CLI against the session's dev server (in a thread: the test's worker keeps running)."""
    environ = {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "RINGCTL_ACTOR": actor,
    }
    run = await asyncio.to_thread(run_ringctl, *args, env=environ)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, run.stdout, run.stderr


async def status_json(env: WorkflowEnvironment, release: str) -> dict[str, Any]:
    code, out, err = await ringctl(env, "status", release, "--output", "json")
    assert code == 0, err
    return json.loads(out)


async def wait_state(env: WorkflowEnvironment, release: str, state: str, timeout: float = 30) -> dict[str, Any]:
    status = await eventually(lambda: status_json(env, release), lambda s: s["state"] == state, timeout, every=0.3)
    assert status["state"] == state, f"state {status['state']}, wanted {state}"
    return status


async def start_release_cli(
    env: WorkflowEnvironment, version: str, plan: str, task_queue: str, *extra: str
) -> tuple[int, str, str]:
    """``ringctl release start`` of service checkout as the pipeline."""
    start = ("release", "start", "--service", "checkout", "--version", version, "--plan", plan)
    return await ringctl(env, *start, "--task-queue", task_queue, *extra)


def plan_file(tmp_path: Path) -> str:
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(plan_data()), encoding="utf-8")
    return str(path)


async def test_release_lifecycle_from_the_command_line(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    plan = plan_file(tmp_path)
    start = ("release", "start", "--service", "checkout", "--plan", plan, "--task-queue", task_queue)
    async with sandbox_worker(client, task_queue, world):
        code, out, err = await ringctl(env, *start, "--version", "2.0.0")
        assert (code, out.strip()) == (0, "checkout@2.0.0"), err

        code, _, err = await ringctl(env, *start, "--version", "2.0.1")
        assert code == 1 and "'checkout' already has a release in flight: checkout@2.0.0" in err

        code, out, err = await ringctl(
            env, "pause", "checkout@2.0.0", "--reason", "checking dashboards", actor="oncall"
        )
        assert code == 0 and "paused" in out, err
        code, out, err = await ringctl(env, "resume", "checkout@2.0.0", actor="oncall")
        assert code == 0 and "resumed" in out, err

        status = await wait_state(env, "checkout@2.0.0", "awaiting_approval")
        assert status["current_ring"] == "japan"

        code, _, err = await ringctl(env, "approve", "checkout@2.0.0", "--ring", "canary", actor="release-manager")
        assert code == 1 and "ring 'canary' is not waiting for approval" in err
        code, _, err = await ringctl(env, "approve", "checkout@2.0.0", "--ring", "japan")
        assert code == 1 and "'ci-pipeline' may not approve ring 'japan'" in err
        code, out, err = await ringctl(
            env, "approve", "checkout@2.0.0", "--ring", "japan", "--comment", "CAB-123", actor="release-manager"
        )
        assert code == 0 and "ring japan approved by release-manager" in out, err

        status = await wait_state(env, "checkout@2.0.0", "completed")
        actions = [(e["actor"], e["action"]) for e in status["events"]]
        assert ("ci-pipeline", "start") in actions and ("release-manager", "approve") in actions
        assert ("oncall", "pause") in actions and ("oncall", "resume") in actions

        code, out, _ = await ringctl(env, "status", "checkout@2.0.0")
        assert code == 0
        assert "state    completed" in out and "approved by: release-manager" in out
        assert "ap-northeast-3" in out and "error-ratio" in out

        code, out, _ = await ringctl(env, "status", "--output", "json")
        assert code == 0 and any(r["release_id"] == "checkout@2.0.0" for r in json.loads(out))


async def test_start_with_wait_exits_non_zero_after_automatic_rollback(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    world.scenario.bad_gates["us-east-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        code, out, err = await start_release_cli(env, "2.1.0", plan_file(tmp_path), task_queue, "--wait")
    assert code == 3
    assert out.strip() == "checkout@2.1.0"
    assert "checkout@2.1.0: rolled_back: ring na-eu failed: gate breach: error-ratio in us-east-1" in err


async def test_rollback_and_abort_from_the_command_line(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    plan = plan_file(tmp_path)
    start = ("release", "start", "--service", "checkout", "--plan", plan, "--task-queue", task_queue)
    async with sandbox_worker(client, task_queue, world):
        await ringctl(env, *start, "--version", "2.2.0")
        await wait_state(env, "checkout@2.2.0", "awaiting_approval")
        code, out, err = await ringctl(env, "rollback", "checkout", "--reason", "pager", actor="oncall")
        assert code == 0 and "rollback started" in out, err
        status = await wait_state(env, "checkout@2.2.0", "rolled_back")
        assert status["reason"] == "rollback requested by oncall: pager"
        code, _, err = await ringctl(env, "rollback", "checkout@2.2.0", "--reason", "again", actor="oncall")
        assert code == 1 and "checkout@2.2.0 is already rolled_back" in err

        await ringctl(env, *start, "--version", "2.3.0")
        await wait_state(env, "checkout@2.3.0", "awaiting_approval")
        code, _, err = await ringctl(env, "abort", "checkout@2.2.0", "--reason", "wrong id", actor="oncall")
        assert (
            code == 1
            and "release checkout@2.2.0 is not running; the current release of checkout is checkout@2.3.0" in err
        )
        code, out, err = await ringctl(env, "abort", "checkout@2.3.0", "--reason", "stop here", actor="oncall")
        assert code == 0, err
        status = await wait_state(env, "checkout@2.3.0", "aborted")
    assert world.image("canary-1") == "registry.example.com/checkout:2.3.0", "abort leaves regions as they are"


async def test_unknown_release_and_unreachable_server_are_clear_errors(env: WorkflowEnvironment) -> None:
    code, _, err = await ringctl(env, "status", "nosuchservice")
    assert code == 1 and "no release found for 'nosuchservice'" in err
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ringctl",
        "status",
        "x",
        "--address",
        "127.0.0.1:1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err_bytes = await asyncio.wait_for(process.communicate(), timeout=60)
    # 4, not 1: an unreachable Temporal is "not applied, retry", distinct from a refusal (issue 8)
    assert process.returncode == 4 and b"cannot connect to Temporal at 127.0.0.1:1" in err_bytes
    assert b"Traceback" not in err_bytes


async def test_rollback_after_completion_within_retention_history_and_list(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    plan = plan_file(tmp_path)
    async with sandbox_worker(client, task_queue, world):
        await start_release_cli(env, "2.4.0", plan, task_queue)
        await wait_state(env, "checkout@2.4.0", "awaiting_approval")
        await ringctl(env, "approve", "checkout@2.4.0", "--ring", "japan", actor="release-manager")
        done = await wait_state(env, "checkout@2.4.0", "completed")
        assert done["rollback_until"] is not None
        assert world.image("ap-northeast-3") == "registry.example.com/checkout:2.4.0"

        code, out, err = await ringctl(
            env, "rollback", "--service", "checkout", "--reason", "late bug report", actor="oncall"
        )
        assert code == 0 and "checkout@2.4.0: rollback started" in out, err
        status = await wait_state(env, "checkout@2.4.0", "rolled_back")
        assert status["reason"] == "rollback requested by oncall: late bug report"
        assert all(
            world.image(r) == "sandbox/app:0"
            for r in ("staging-1", "canary-1", "us-east-1", "eu-west-1", "ap-northeast-1", "ap-northeast-3")
        )
        rollbacks = [c.region for c in world.calls if c.action == "rollback"]
        assert set(rollbacks[:2]) == {"ap-northeast-1", "ap-northeast-3"}, "Japan first: reverse ring order"
        assert rollbacks[-1] == "staging-1"

        code, _, err = await ringctl(env, "rollback", "checkout@2.4.0", "--reason", "twice", actor="oncall")
        assert code == 1 and "checkout@2.4.0 is already rolled_back" in err

        code, out, _ = await ringctl(env, "history", "checkout@2.4.0")
        assert code == 0
        lines = out.splitlines()
        assert any("ci-pipeline" in line and " start " in line for line in lines)
        assert any("release-manager" in line and "approve" in line for line in lines)
        assert any("oncall" in line and "rollback" in line and "late bug report" in line for line in lines)
        code, out, _ = await ringctl(env, "history", "checkout@2.4.0", "--output", "json")
        assert [e["action"] for e in json.loads(out)["entries"]][-1] == "rolled_back"

        code, out, _ = await ringctl(env, "list", "--service", "checkout", "--output", "json")
        rows = json.loads(out)
        assert code == 0 and rows and all(r["release_id"].startswith("checkout@") for r in rows)
        code, out, _ = await ringctl(env, "list", "--state", "rolled_back")
        assert "checkout@2.4.0" in out


async def test_rollback_after_retention_expired_is_refused(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    data = plan_data(rollback_retention="1s")
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    async with sandbox_worker(client, task_queue, world):
        await start_release_cli(env, "2.5.0", str(path), task_queue)
        await wait_state(env, "checkout@2.5.0", "awaiting_approval")
        await ringctl(env, "abort", "checkout@2.5.0", "--reason", "stop", actor="oncall")
        await wait_state(env, "checkout@2.5.0", "aborted")
        await asyncio.sleep(1.5)
        code, _, err = await ringctl(env, "rollback", "checkout", "--reason", "too late", actor="oncall")
    assert code == 1 and "rollback retention expired" in err
    assert not [c for c in world.calls if c.action == "rollback"]


async def test_status_watch_follows_the_release_to_its_end(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    world.scenario.bad_gates["canary-1"] = {ANY_VERSION}
    async with sandbox_worker(client, task_queue, world):
        await start_release_cli(env, "2.6.0", plan_file(tmp_path), task_queue)
        code, out, err = await ringctl(
            env, "status", "checkout@2.6.0", "--watch", "--interval", "0.2", "--output", "json"
        )
    assert code == 0, err
    states = [json.loads(line)["state"] for line in out.splitlines()]
    assert states[-1] == "rolled_back" and len(states) >= 2


async def test_signed_approval_and_window_override_from_the_command_line(
    env: WorkflowEnvironment, client: Client, task_queue: str, world: SandboxWorld, tmp_path: Path
) -> None:
    code, out, err = await ringctl(env, "keys", "generate", "release-manager", "--dir", str(tmp_path))
    assert code == 0, err
    public_key = yaml.safe_load(out)["approvals"]["public_keys"]["release-manager"]
    assert (tmp_path / "release-manager.key").stat().st_mode & 0o777 == 0o600
    code, _, err = await ringctl(env, "keys", "generate", "release-manager", "--dir", str(tmp_path))
    assert code == 1 and "refusing to overwrite a private key" in err
    mallory_key = tmp_path / "mallory"
    await ringctl(env, "keys", "generate", "mallory", "--dir", str(mallory_key))

    data = plan_data(approvals={"signing": "required", "public_keys": {"release-manager": public_key}})
    now = datetime.now(UTC)
    data["rings"][0]["freezes"] = [
        {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(days=2)).isoformat(),
            "reason": "quarter close",
        }
    ]
    data["rings"][0]["approval"] = {"approvers": ["release-manager"]}
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = await ringctl(env, "validate", str(path))
    assert code == 0, err

    async with sandbox_worker(client, task_queue, world):
        await start_release_cli(env, "3.0.0", str(path), task_queue)
        status = await wait_state(env, "checkout", "awaiting_window")
        assert "quarter close" in status["reason"] and status["rings"][1]["waiting_until"]
        code, _, err = await ringctl(
            env,
            "approve",
            "checkout",
            "--ring",
            "canary",
            "--override-window",
            "--reason",
            "hotfix",
            actor="release-manager",
        )
        assert code == 1 and "approval by 'release-manager' is not signed" in err
        code, out, err = await ringctl(
            env,
            "approve",
            "checkout",
            "--ring",
            "canary",
            "--override-window",
            "--reason",
            "hotfix",
            "--key",
            str(tmp_path / "release-manager.key"),
            actor="release-manager",
        )
        assert code == 0 and "deployment window of ring canary overridden by release-manager" in out, err

        await wait_state(env, "checkout", "awaiting_approval")
        code, _, err = await ringctl(
            env,
            "approve",
            "checkout@3.0.0",
            "--ring",
            "japan",
            "--key",
            str(mallory_key / "mallory.key"),
            actor="release-manager",
        )
        assert code == 1 and "signature does not match" in err
        code, out, err = await ringctl(
            env,
            "approve",
            "checkout@3.0.0",
            "--ring",
            "japan",
            "--key",
            str(tmp_path / "release-manager.key"),
            actor="release-manager",
        )
        assert code == 0, err
        final = await wait_state(env, "checkout", "completed")
    assert [e["action"] for e in final["events"] if e["actor"] == "release-manager"] == ["override_window", "approve"]
