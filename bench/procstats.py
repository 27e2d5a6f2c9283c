"""What the benchmarks read about processes: CPU and memory from /proc, percentiles."""

from __future__ import annotations

import asyncio
import math
import os
import resource
import sys
import traceback
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def proc_status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_pid() -> int | None:
    """The dev server: a child process of this one whose name starts with ``temporal``."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text.rpartition(")")[2].split()[1])
        if ppid == me and comm.startswith("temporal"):
            return int(entry)
    return None


def run_to_exit(main: Coroutine[Any, Any, None]) -> NoReturn:
    """Run a benchmark's ``main``, flush, and end the process with ``os._exit`` (1 after a traceback).

    As ``ringctl`` ends (ringctl/cli/__init__.py:main): the Temporal client's native threads
    can crash CPython's finalization of a process (temporalio/sdk-python#300); a benchmark that
    printed every figure then died of SIGSEGV (-11) on its way out in a CI run.
    """
    code = 0
    try:
        asyncio.run(main)
    except SystemExit as exc:  # argparse: --help, a usage error
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001  (printed, then the exit code says it)
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
