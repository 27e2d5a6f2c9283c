"""Exit codes as users meet them: the installed ``ringctl`` in a process of its own (issue 13).

0 ok, 1 refused or invalid, 2 usage, 3 the release did not complete, 4 Temporal
unreachable or no worker took the command. Nothing here needs a server: the
unreachable address is a closed port.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ringctl.cli import cli
from tests.support.cli_runs import ringctl

UNREACHABLE = ("--address", "127.0.0.1:1")
#: Every command that talks to Temporal, with what it needs besides a connection.
TALKS_TO_TEMPORAL = {
    "status": ("status", "checkout@2.0.0"),
    "status --watch": ("status", "checkout", "--watch"),
    "list": ("list",),
    "history": ("history", "checkout@2.0.0"),
    "approve": ("approve", "checkout@2.0.0", "--ring", "japan"),
    "override": ("approve", "checkout", "--ring", "japan", "--override-window", "--reason", "hotfix"),
    "rollback": ("rollback", "checkout", "--reason", "pager"),
    "pause": ("pause", "checkout"),
    "resume": ("resume", "checkout"),
    "abort": ("abort", "checkout", "--reason", "stop", "--yes"),
    "release start": ("release", "start", "--service", "checkout", "--version", "2.0.0"),
    "wait": ("wait", "checkout@2.0.0", "--timeout", "1m"),
}


@pytest.mark.parametrize("args", TALKS_TO_TEMPORAL.values(), ids=TALKS_TO_TEMPORAL.keys())
def test_an_unreachable_temporal_exits_4_with_one_line(args: tuple[str, ...]) -> None:
    run = ringctl(*args, *UNREACHABLE)
    assert run.returncode == 4, run.stderr
    [line] = run.stderr.splitlines()  # one line, no traceback
    assert line.startswith("error: cannot connect to Temporal at 127.0.0.1:1: ")
    assert run.stdout == ""


@pytest.mark.parametrize("flag", ["--override-budget", "--override-window"])
def test_an_override_without_a_reason_is_a_usage_error(flag: str) -> None:
    run = ringctl("approve", "checkout", "--ring", "japan", flag, *UNREACHABLE)
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.splitlines()  # one line naming the option, no usage block
    assert line.startswith(f"error: Invalid value for --reason: must say why, with {flag} (see ringctl approve --help")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_key_that_is_no_file_is_a_usage_error_naming_option_and_path(kind: str, tmp_path: Path) -> None:
    key = tmp_path / "alice.key" if kind == "missing" else tmp_path
    run = ringctl("approve", "checkout", "--ring", "japan", "--key", str(key), *UNREACHABLE)
    assert run.returncode == 2, run.stderr  # before the fix: a missing file was read after connecting (1 or 4)
    is_what = "does not exist" if kind == "missing" else "is a directory"
    [line] = run.stderr.splitlines()
    assert line.startswith(f"error: Invalid value for '--key': File '{key}' {is_what}. (see ringctl approve --help")


def test_a_key_that_is_no_key_is_refused_before_temporal_is_asked(tmp_path: Path) -> None:
    key = tmp_path / "alice.key"
    key.write_text("not a key\n")
    run = ringctl("approve", "checkout", "--ring", "japan", "--key", str(key), *UNREACHABLE)
    assert run.returncode == 1 and run.stderr.startswith(f"error: private key {key} is not a PEM private key")


def test_wait_refuses_a_bad_timeout_as_usage() -> None:
    run = ringctl("wait", "checkout", "--timeout", "soon", *UNREACHABLE)
    assert run.returncode == 2 and "Invalid value for '--timeout'" in run.stderr


def test_the_top_level_help_lists_every_exit_code() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    table = out[out.index("Exit codes:") :].splitlines()[1:]
    codes = [line.split()[0] for line in table if line.split() and line.split()[0].isdigit()]
    assert codes == list("01234")
    assert "Temporal unreachable, or no worker took the command in time" in out
