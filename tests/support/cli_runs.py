"""Running ``ringctl`` as users do: the installed console script in a process of its own.

Every test that runs the CLI goes through :func:`ringctl` (an async test calls it with
``asyncio.to_thread``, so its in-process worker keeps running meanwhile).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The console script ``pip install`` put beside this interpreter.
RINGCTL = str(Path(sys.executable).parent / "ringctl")
#: The repository's root: commands run there, as the README's do.
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    """One finished ``ringctl`` process: exit code, output, wall-clock seconds."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def ringctl(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60, cwd: Path = ROOT, stdin: int | None = None
) -> Run:
    """``ringctl ARGS`` with ``env`` added to this process's environment; its :class:`Run`."""
    began = time.monotonic()
    done = subprocess.run(
        [RINGCTL, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=stdin,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def at_once(address: str, *commands: tuple[tuple[str, ...], str], timeout: float = 60) -> list[Run]:
    """Start ``ringctl ARGS`` as each (args, actor) against ``address`` at the same instant; their runs, in order."""
    began = time.monotonic()
    running = [
        subprocess.Popen(
            [RINGCTL, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TEMPORAL_ADDRESS": address, "RINGCTL_ACTOR": actor},
        )
        for args, actor in commands
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=timeout)
        results.append(Run(process.returncode, out, err, time.monotonic() - began))
    return results
