"""``abort`` keeps the new version, ``rollback`` goes back: the help says so to a habit formed on Argo Rollouts.

The output and the confirmation through a real worker are in tests/system/test_operator_ux.py.
"""

from __future__ import annotations

from click.testing import CliRunner

from ringctl.cli import cli


def help_of(*command: str) -> str:
    return " ".join(CliRunner().invoke(cli, [*command, "--help"], prog_name="ringctl").output.split())


def test_abort_help_starts_by_saying_it_keeps_the_new_version() -> None:
    assert help_of("abort").startswith(
        "Usage: ringctl abort [OPTIONS] RELEASE Stop RELEASE and KEEP the new version where it is deployed "
        "(this is not a rollback: to go back to the previous version use `ringctl rollback`)."
    )
    assert "`kubectl argo rollouts abort` goes back to stable: here that is `ringctl rollback`" in help_of("abort")
    assert "-y, --yes Do not ask for confirmation" in help_of("abort")


def test_rollback_help_says_it_is_what_argo_calls_abort() -> None:
    out = help_of("rollback")
    assert "to the version it replaced" in out
    assert "This is what `kubectl argo rollouts abort` does (back to stable); `ringctl abort` does not roll back" in out


def test_the_command_list_tells_them_apart() -> None:
    listing = CliRunner().invoke(cli, ["--help"]).output
    assert "abort       Stop RELEASE and KEEP the new version where it is deployed..." in listing
    assert "rollback    Roll back every region RELEASE changed to the version it..." in listing
