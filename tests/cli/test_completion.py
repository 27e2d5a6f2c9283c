"""``ringctl completion``: the script a shell sources, and what Tab then completes, in a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_startup import REMOTE_ONLY, VALIDATION, imported_by
from tests.support.cli_runs import RINGCTL, ringctl

#: Tab in bash: COMP_WORDS and COMP_CWORD as bash sets them, then the function the script registered.
_TAB = """
source "$1"
complete -p ringctl
COMP_WORDS=({words})
COMP_CWORD={index}
_ringctl_completion ringctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""


def tab(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of ``words`` (``""`` for a new word) after sourcing ``script``."""
    quoted = " ".join(f"'{w}'" for w in words)
    path = f"{Path(RINGCTL).parent}{os.pathsep}{os.environ['PATH']}"  # the script calls `ringctl` back
    done = subprocess.run(
        [shutil.which("bash") or "bash", "-c", _TAB.format(words=quoted, index=len(words) - 1), "tab", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
        check=True,
    )
    registered, *offers = done.stdout.splitlines()
    assert registered.endswith(" ringctl") and "_ringctl_completion" in registered
    return offers


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = ringctl("completion", "bash")
    assert run.returncode == 0, run.stderr
    script = tmp_path_factory.mktemp("completion") / "ringctl.bash"
    script.write_text(run.stdout)
    return script


def test_bash_completes_a_subcommand(bash_script: Path) -> None:
    assert tab(bash_script, "ringctl", "sta") == ["status"]
    assert tab(bash_script, "ringctl", "ro") == ["rollback"]


def test_bash_completes_options_and_choices(bash_script: Path) -> None:
    assert "--timeout" in tab(bash_script, "ringctl", "wait", "checkout", "--")
    assert tab(bash_script, "ringctl", "completion", "") == ["bash", "zsh", "fish"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "compdef _ringctl_completion ringctl"), ("fish", "complete")])
def test_zsh_and_fish_scripts_call_ringctl_back(shell: str, marker: str) -> None:
    run = ringctl("completion", shell)
    assert run.returncode == 0 and marker in run.stdout and "_RINGCTL_COMPLETE" in run.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    assert ringctl("completion", "powershell").returncode == 2


def test_the_help_says_how_to_install_it() -> None:
    out = ringctl("completion", "--help").stdout
    assert "~/.local/share/bash-completion/completions/ringctl" in out
    assert "~/.config/fish/completions/ringctl.fish" in out and '"${fpath[1]}/_ringctl"' in out


def test_completion_imports_only_click() -> None:
    """Tab calls ringctl back on every press: it must start as fast as --help."""
    assert imported_by("completion", "bash") & (REMOTE_ONLY | VALIDATION | {"rich"}) == set()
