"""The ``ringctl`` command line: validate plans, start and steer releases, run the worker, demo.

Exit codes (:data:`EXIT_CODES`, shown by ``ringctl --help``): 0 success; 1 refused or invalid;
2 usage error; 3 the release did not complete (``release start --wait``, ``wait``); 4 Temporal
unreachable or no worker took the command in time (nothing was applied, and it never will be).
"""

from __future__ import annotations

import os
import sys

import click

from ringctl.cli import (
    completion,
    control_commands,
    follow,
    inspect_commands,
    plan_commands,
    process_commands,
    release_commands,
    serve_command,
)
from ringctl.cli.options import EXIT_REFUSED, EXIT_UNAVAILABLE
from ringctl.core.errors import PlanError, RingctlError, UnavailableError
from ringctl.core.log import configure_logging

#: The exit codes every command keeps, as ``ringctl --help`` lists them.
EXIT_CODES = """\b
Exit codes:
  0  success
  1  refused (by the release or by Temporal), no such release, or an invalid plan
  2  usage error: a missing or bad option or argument
  3  the release did not complete: it ended otherwise, or --timeout passed
     (release start --wait, wait)
  4  Temporal unreachable, or no worker took the command in time:
     nothing was applied and it never will be; safe to retry
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.option("--log-json/--log-text", default=None, help="Log format (default: JSON unless on a terminal).")
@click.option("--log-level", default="WARNING", show_default=True, help="Log level.")
def cli(log_json: bool | None, log_level: str) -> None:
    """ringctl: release a service through staging and rings of regions, Japan last, gated by SLOs."""
    configure_logging(json=log_json, level=log_level, structured=False)  # structlog: options.structured_logging


for _command in (
    plan_commands.validate,
    plan_commands.schema,
    plan_commands.keys,
    release_commands.release,
    release_commands.approve,
    control_commands.rollback,
    control_commands.pause,
    control_commands.resume,
    control_commands.abort,
    inspect_commands.status,
    inspect_commands.history,
    inspect_commands.list_command,
    follow.wait,
    process_commands.worker,
    process_commands.setup,
    process_commands.demo,
    completion.completion,
    serve_command.serve,
):
    cli.add_command(_command)


def main() -> None:
    """Entry point: run the CLI, turn ringctl's errors into one line, and exit with its code.

    The process ends with ``os._exit`` after flushing: the Temporal client's
    native threads can crash CPython's finalization of a short-lived process
    (temporalio/sdk-python#300), and there is nothing left to clean up here.
    """
    code = _main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main() -> int:
    try:
        cli.main(standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # a group without its command: its help
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:  # one line, naming the option and value, and where help is
        where = exc.ctx.command_path if exc.ctx is not None else "ringctl"
        click.echo(f"error: {exc.format_message()} (see {where} --help)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except RingctlError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from ringctl.client.errors import from_call_error  # Temporal's errors; imported only when one escaped

        error = from_call_error(exc)
        if error is None:
            raise
        return _report(error)
    return 0


def _report(error: RingctlError) -> int:
    """Print ``error`` as one line (a plan's problems one line each) and return its exit code."""
    if isinstance(error, PlanError):
        for problem in error.problems:
            click.echo(f"{error.path}: {problem}", err=True)
        return EXIT_REFUSED
    click.echo(f"error: {error}", err=True)
    return EXIT_UNAVAILABLE if isinstance(error, UnavailableError) else EXIT_REFUSED
