"""Commands when no worker can take them: a prompt, honest answer, and nothing applied later.

Regressions (issue 8, defect 4): with no worker running, ``pause``, ``abort`` and
``rollback`` hung for minutes with no output, and an abort the operator gave up
on took effect six minutes later when a worker came back; a release whose
workflow task kept failing was reported as "no worker answered".
"""

from __future__ import annotations

import subprocess
import time

from ringctl.core.binaries import find_binary
from ringctl.core.constants import workflow_id_for
from tests.support.polling import wait_until
from tests.support.stack import Stack

#: Exit code for "Temporal or a worker did not take the command in time; nothing was applied".
EXIT_UNAVAILABLE = 4
#: Every command answers within this many seconds.
ANSWER_WITHIN = 10.0


def _timed(stack: Stack, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = stack.cli.run(*args, actor="oncall")
    return done, time.monotonic() - began


def test_commands_without_a_worker_answer_in_time_and_never_apply_later(stack: Stack) -> None:
    release = stack.cli.start("checkout", "4.0.0", "--speed", "10000")  # accepted by the server alone
    commands = [
        ("pause", release, "--reason", "looking"),
        ("abort", release, "--reason", "given up"),
        ("rollback", release, "--reason", "given up"),
        ("status", release),
    ]
    results = [_timed(stack, *args) for args in commands]
    for (done, took), args in zip(results, commands, strict=True):
        assert took < ANSWER_WITHIN, f"{args[0]} took {took:.1f} s"
        assert done.returncode == EXIT_UNAVAILABLE, (args[0], done.returncode, done.stderr)
        assert "no worker is polling task queue" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        if args[0] != "status":
            assert "not applied" in done.stderr and "will never apply" in done.stderr

    stack.worker()  # the worker comes back: the expired commands must not apply
    status = stack.cli.wait_for(release, lambda s: s["state"] == "baking", 30, "the release to run")
    time.sleep(2)
    status = stack.cli.status(release)
    assert status is not None
    assert status["state"] not in ("paused", "aborting", "aborted", "rolling_back", "rolled_back"), status["state"]
    assert not [e for e in status["events"] if e["action"] in ("pause", "abort", "rollback")], status["events"]


def test_a_failing_workflow_task_is_reported_with_its_error(stack: Stack) -> None:
    stack.worker()
    temporal = find_binary("temporal")
    started = subprocess.run(
        [temporal, "workflow", "start", "--type", "RingRelease", "--task-queue", stack.task_queue]
        + ["--workflow-id", workflow_id_for("payments"), "--input", '{"release_id": "payments@1"}']
        + ["--address", stack.server.address],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert started.returncode == 0, started.stderr

    def failing() -> subprocess.CompletedProcess[str] | None:
        done, took = _timed(stack, "status", "payments")
        assert took < ANSWER_WITHIN
        return done if "keeps failing" in done.stderr else None

    done = wait_until(failing, 30, "status to report the failing workflow task")
    assert done.returncode == EXIT_UNAVAILABLE
    assert "Failed decoding arguments" in done.stderr and "no worker" not in done.stderr
    aborted, took = _timed(stack, "abort", "payments", "--reason", "stuck")
    assert took < ANSWER_WITHIN and aborted.returncode == EXIT_UNAVAILABLE
    assert "keeps failing" in aborted.stderr
