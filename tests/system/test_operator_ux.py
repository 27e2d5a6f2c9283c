"""What an operator sees (issue 13): ``status --watch`` as a live tree on a terminal and as change lines in a
pipe, ``ringctl wait`` attached from a CI job, and ``abort`` that says it keeps the new version.

The shipped rings.yaml on a ``ringctl worker`` process; every command a ``ringctl`` process,
on a pseudo-terminal where a person's terminal matters.
"""

from __future__ import annotations

import os
import re
import subprocess

from ringctl.core.constants import MIN_HISTORY_EVENTS
from tests.support.cli_runs import RINGCTL, ROOT, ringctl
from tests.support.processes import ring_of
from tests.support.stack import Stack
from tests.support.terminal import OnTerminal, without_controls
from tests.system.test_history_boundary import runs

#: The shipped plan's waits 10,000 times faster (as tests/system/test_operator_path.py runs it).
SPEED = "10000"
#: A change line of ``status --watch`` and ``wait`` when stdout is not a terminal.
CHANGE_LINE = re.compile(r"^\d\d:\d\d:\d\dZ checkout@\S+ [a-z_]+( \(paused\))?( ring \S+( \[[^\]]*\])?)?(: .*)?$")


def _environment(stack: Stack) -> dict[str, str]:
    return {"TEMPORAL_ADDRESS": stack.server.address, "RINGCTL_ACTOR": "oncall"}


def _piped(stack: Stack, *args: str) -> subprocess.Popen[str]:
    """``ringctl ARGS`` with its stdout and stderr in pipes, as a CI job runs it."""
    return subprocess.Popen(
        [RINGCTL, *args],
        cwd=ROOT,
        env={**os.environ, **_environment(stack)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_draws_a_tree_on_a_terminal_lines_in_a_pipe_and_wait_exits_0_on_completion(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "2.1.0", "--speed", SPEED, "--history-limit", str(MIN_HISTORY_EVENTS))
    early = stack.cli.run("wait", release, "--timeout", "1s")
    assert early.returncode == 3 and "after --timeout 1s; stopped waiting" in early.stderr, early.stderr

    waiting = _piped(stack, "wait", release)
    lines = _piped(stack, "status", release, "--watch", "--interval", "0.5")
    tree = OnTerminal(("status", release, "--watch", "--interval", "0.5"), _environment(stack))
    screen = tree.read_until("▶ japan  awaiting_approval  · waiting for 2 approvals of ring japan", timeout=120)
    assert re.search(r"├── ✔ canary\s+promoted", screen)
    assert "ap-northeast-1" in screen and "gates: " in screen
    stack.cli.approve_japan(release)

    code, screen = tree.finish(timeout=120)
    assert code == 0 and f"{release}  completed" in without_controls(screen)
    assert "\x1b[2J" not in screen and "\x1b[1A" in screen, "redrawn in place (cursor up), not by clearing the screen"
    out, err = lines.communicate(timeout=60)
    assert lines.returncode == 0, err
    shown = out.splitlines()
    assert all(CHANGE_LINE.match(line) for line in shown), out
    assert "\x1b" not in out and len(shown) == len(set(shown)), "a line per change, no escape codes"
    assert any(" awaiting_approval ring japan [" in line for line in shown)
    assert re.search(rf" {release} completed", shown[-1])
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.splitlines()[-1].split(" ", 1)[1].startswith(f"{release} completed")
    assert err.strip() == f"{release}: completed"
    assert len(runs(stack, "2.1.0")) > 1, "wait and --watch followed the release across its workflow's runs"


def test_abort_asks_on_a_terminal_keeps_the_new_version_and_wait_exits_3(stack: Stack) -> None:
    stack.worker()
    release = stack.cli.start("checkout", "2.2.0", "--speed", SPEED)
    stack.cli.wait_for(release, lambda s: ring_of(s, "canary")["state"] == "promoted", 90, "canary promoted")

    asked = OnTerminal(("abort", release, "--reason", "stop here"), _environment(stack))
    asked.read_until("this is not a rollback")
    asked.type("n\n")
    code, screen = asked.finish(timeout=30)
    assert code == 1 and "not aborted" in screen, screen
    current = stack.cli.status(release)
    assert current is not None and current["state"] not in ("aborting", "aborted")

    done = ringctl("abort", release, "--reason", "stop here", env=_environment(stack), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert f"{release}: regions already deployed keep 2.2.0; this is not a rollback." in done.stdout
    assert f"to go back to the previous version: ringctl rollback {release} --reason REASON" in done.stdout

    waited = stack.cli.run("wait", release)
    assert waited.returncode == 3, waited.stderr
    assert waited.stderr.startswith(f"{release}: did not complete: aborted: ") and "stop here" in waited.stderr
    status = stack.cli.wait_state(release, "aborted")
    assert all(r["image"].endswith(":2.2.0") for r in ring_of(status, "canary")["regions"])
    unknown = stack.cli.run("wait", "checkout@9.9.9")
    assert unknown.returncode == 1 and "no release found" in unknown.stderr
