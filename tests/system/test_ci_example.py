"""deploy/ci/release.sh, the shell part of the GitHub Actions and GitLab CI examples, against the test bed:
a Temporal server, a `ringctl worker` process, and the script as a pipeline runs it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from ringctl.providers.sandbox import ANY_VERSION, Scenario, write_scenario
from tests.support.cli_runs import RINGCTL, ringctl
from tests.support.plans import plan_data
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "ci" / "release.sh"


def pipeline(stack: Stack, plan: Path, version: str) -> subprocess.CompletedProcess[str]:
    """Run the script as a CI job would: its variables set, ringctl on the PATH."""
    env = {
        **os.environ,
        "PATH": f"{Path(RINGCTL).parent}:{os.environ['PATH']}",
        "SERVICE": "checkout",
        "VERSION": version,
        "RINGCTL_PLAN": str(plan),
        "RINGCTL_ACTOR": "ci:shop/checkout",
        "TEMPORAL_ADDRESS": stack.server.address,
        "RINGCTL_TASK_QUEUE": stack.task_queue,
        "RINGCTL_COMMIT": "3f2a9c1d",
        "RINGCTL_BUILD_URL": "https://ci.example.com/shop/checkout/-/pipelines/42",
        "RINGCTL_CHANGE": "CHG-1234",
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)


def _plan(tmp_path: Path) -> Path:
    data = plan_data()
    data["rings"] = data["rings"][:-1]  # no guarded ring: nothing for a human to approve in this pipeline
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_pipeline_releases_and_exits_0_when_the_release_completes(stack: Stack, tmp_path: Path) -> None:
    stack.worker()
    done = pipeline(stack, _plan(tmp_path), "11.0.0")
    assert done.returncode == 0, done.stderr
    assert "ringctl: checkout@11.0.0 completed" in done.stdout
    status = stack.cli.status("checkout@11.0.0")
    assert status is not None
    assert status["metadata"] == {
        "commit": "3f2a9c1d",
        "build_url": "https://ci.example.com/shop/checkout/-/pipelines/42",
        "change": "CHG-1234",
    }
    start = stack.cli.events(status, "start")[0]
    assert (
        start["actor"] == "ci:shop/checkout"
        and "commit 3f2a9c1d" in start["detail"]
        and "change CHG-1234" in start["detail"]
    )
    shown = ringctl("status", "checkout@11.0.0", env={"TEMPORAL_ADDRESS": stack.server.address})
    assert "commit 3f2a9c1d" in shown.stdout and "change CHG-1234" in shown.stdout


def test_the_pipeline_exits_3_when_the_release_rolls_back(stack: Stack, tmp_path: Path) -> None:
    write_scenario(stack.state_dir, Scenario(bad_gates={"canary-1": {ANY_VERSION}}))
    stack.worker()
    done = pipeline(stack, _plan(tmp_path), "11.1.0")
    assert done.returncode == 3, done.stderr
    assert "did not complete; ringctl status checkout@11.1.0 says why" in done.stderr


def test_the_pipeline_exits_1_and_starts_nothing_on_a_bad_plan(stack: Stack, tmp_path: Path) -> None:
    bad = tmp_path / "rings.yaml"
    bad.write_text("services: []\n", encoding="utf-8")
    done = pipeline(stack, bad, "11.2.0")
    assert done.returncode == 1, done.stderr
    assert "rings.yaml" in done.stderr and "Traceback" not in done.stderr


def test_release_metadata_that_is_not_one_short_line_is_a_usage_error(stack: Stack) -> None:
    bad = ringctl(
        "release", "start", "--service", "checkout", "--version", "11.3.0", "--commit", "a\nb",
        env={"TEMPORAL_ADDRESS": stack.server.address},
    )  # fmt: skip
    assert bad.returncode == 2 and "--commit" in bad.stderr and "one printable line" in bad.stderr, bad.stderr
