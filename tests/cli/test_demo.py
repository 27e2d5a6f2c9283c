"""``ringctl demo``: the shipped plan at ``--speed``, acted through the CLI's Updates, always reaching an end.

The end-to-end tests run the real ``ringctl demo`` command, which starts its own
Temporal dev server; each takes 5 to 30 seconds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

import ringctl.cli.demo as demo
from ringctl.cli import cli
from ringctl.client import releases
from ringctl.core.timescale import scale_plan
from ringctl.workflows.models import ReleaseInput
from tests.support.cli_runs import Run, ringctl

RELEASE = "checkout@1.1.0"


def run_demo(*args: str, timeout: float = 180) -> Run:
    return ringctl("demo", *args, timeout=timeout, stdin=subprocess.DEVNULL)


def acted(output: str, actor: str, action: str, where: str = "") -> bool:
    """Whether the printed audit has ``actor`` doing ``action`` (in ring or region ``where``)."""
    return re.search(rf"^  \d\d:\d\d:\d\d  {actor}\s+{action}\s+{where}", output, re.MULTILINE) is not None


def test_happy_path_runs_the_plans_approvals_and_window_as_written() -> None:
    result = run_demo()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "speed 1800 (ringctl release start --speed 1800)" in out
    assert "japan: 2 approval(s) of alice, bob, carol; Mon–Fri 10:00–16:00 Asia/Tokyo" in out
    assert re.search(
        r"\$ ringctl release start --service checkout --version 1\.1\.0 .*--speed 1800 --as ci-pipeline", out
    )
    # Two release managers approve Japan, through `ringctl approve`, recorded in the audit.
    for manager in ("alice", "bob"):
        assert f"$ ringctl approve {RELEASE} --ring japan --comment" in out
        assert f"--as {manager} --address 127.0.0.1:" in out
        assert acted(out, manager, "approve", "japan")
    assert not acted(out, "ci-pipeline", "approve")
    # The Japan window is evaluated: either it was open, or a release manager overrode it (recorded).
    if acted(out, "ringctl", "await_window", "japan"):
        assert f"$ ringctl approve {RELEASE} --ring japan --override-window --reason" in out
        assert acted(out, "alice", "override_window", "japan")
    else:
        assert "override_window" not in out
    assert acted(out, "ringctl", "deploy", "ap-northeast-1")
    assert acted(out, "ringctl", "complete")
    assert re.search(r"^state    completed ", out, re.MULTILINE)


def test_halt_ring_failure_shows_the_halt_and_on_call_rolls_back() -> None:
    result = run_demo("--fail-region", "ap-southeast-1")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert acted(out, "ringctl", "halt", "apac")
    assert "HALTED in ring apac (on_failure: halt)" in out
    for command in ("rollback", "resume", "abort"):
        assert re.search(
            rf"^    \$ ringctl {command} {RELEASE} --reason '[^']+' --address 127\.0\.0\.1:\d+ ", out, re.M
        )
    assert f"(demo acts as oncall) $ ringctl rollback {RELEASE} --reason 'ringctl demo: " in out
    assert acted(out, "oncall", "rollback")
    assert acted(out, "ringctl", "region_rolled_back", "ap-southeast-1")
    assert acted(out, "ringctl", "region_rolled_back", "staging-us-east-1")
    assert not acted(out, "ringctl", "deploy", "ap-northeast-1")
    assert re.search(r"^state    rolled_back ", out, re.MULTILINE)


@pytest.fixture(scope="module")
def rolled_back_by_itself() -> Run:
    """The demo with a breach in eu-west-1, whose ring rolls back by itself (one run for the tests using it)."""
    return run_demo("--fail-region", "eu-west-1")


def test_rollback_ring_failure_rolls_back_by_itself_and_japan_is_untouched(rolled_back_by_itself: Run) -> None:
    result = rolled_back_by_itself
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert acted(out, "ringctl", "rollback_start")
    assert acted(out, "ringctl", "region_rolled_back", "eu-west-1")
    assert "oncall" not in out and "HALTED" not in out
    assert not re.search(r"(deploy|approve)\s+(japan|ap-)", out)
    assert re.search(r"^state    rolled_back ", out, re.MULTILINE)


def test_each_gate_breach_is_printed_once(rolled_back_by_itself: Run) -> None:
    """The breach used to be printed five times: gate_failed, ring_failed, rollback_start, reason, ring message."""
    out = rolled_back_by_itself.stdout
    breach = [line for line in out.splitlines() if "availability in eu-west-1: 0.01 breaches <= 0.001" in line]
    assert len(breach) == 1 and acted(breach[0], "ringctl", "gate_failed", "na-eu"), out
    assert acted(out, "ringctl", "ring_failed", "na-eu") and "gate breach: see gate_failed above" in out
    assert re.search(r"^reason   ring na-eu failed: gate breach: see gate_failed above$", out, re.MULTILINE)


async def test_the_workflow_gets_the_shipped_plan_scaled_by_speed_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo deletes nothing from the plan: the release's input is the shipped plan for its service, scaled."""
    inputs: list[ReleaseInput] = []
    real_start = releases.start_release

    async def spy(client: Client, *args: Any, **kwargs: Any) -> Any:
        handle = await real_start(client, *args, **kwargs)
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        inputs.extend(await client.data_converter.decode(started.input.payloads, [ReleaseInput]))
        return handle

    monkeypatch.setattr("ringctl.cli.demo.start_release", spy)
    code = await demo.run_demo(plan_file=None, fail_region="staging-us-east-1", speed=600, keep_running=False)
    assert code == 0, capsys.readouterr().out
    [request] = inputs
    shipped = demo.example_plan()
    assert request.speed == 600
    assert request.started_by == demo.PIPELINE
    assert request.plan == scale_plan(shipped.for_service(request.service), 600)
    japan = request.plan.rings[-1]
    assert japan.windows == shipped.rings[-1].windows and japan.windows
    assert japan.freezes == shipped.rings[-1].freezes and japan.freezes
    assert japan.holidays is not None and japan.holidays == shipped.rings[-1].holidays
    assert japan.approval == shipped.rings[-1].approval
    assert japan.bake == shipped.rings[-1].bake / 600


def test_cli_defaults_and_refusals() -> None:
    [speed] = [p for p in cli.commands["demo"].params if p.name == "speed"]
    assert speed.default == demo.DEFAULT_SPEED
    assert not [p for p in cli.commands["demo"].params if p.name == "bake"]
    refused = run_demo("--fail-region", "nowhere", timeout=60)
    assert refused.returncode == 1
    assert "--fail-region 'nowhere' is not a region of the plan" in refused.stderr
    assert run_demo("--speed", "0", timeout=60).returncode == 2


def test_the_packaged_plan_is_the_shipped_rings_yaml() -> None:
    """The demo (and installed users) get the repository's rings.yaml byte for byte, never a drifted copy."""
    root = Path(__file__).resolve().parents[2]
    assert (root / "ringctl" / "data" / "rings.yaml").read_bytes() == (root / "rings.yaml").read_bytes()
