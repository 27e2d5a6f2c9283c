"""What a running :class:`~tests.support.fleet.Fleet` costs: memory and idle CPU of its processes.

``python -m tests.support.fleet_cost [SECONDS]`` starts a fleet in a scratch directory, prints
how long the start took (in all and per cluster), lets it settle for 10 s, prints the RSS and PSS
(shared binary pages counted once) and the CPU used over SECONDS (default 30) per component, in
all, and stops the fleet.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.fleet import Fleet


def cost(fleet: Fleet, seconds: float = 30) -> dict[str, Any]:
    """RSS and PSS (MB) and CPU (percent of one core over ``seconds``) of the fleet, per component and in all."""
    pids = fleet.component_pids()
    before = {key: cpu_seconds(pid) for key, pid in pids.items()}
    time.sleep(seconds)
    per: dict[str, dict[str, float]] = {}
    for key, pid in pids.items():
        memory = smaps(pid)
        totals = per.setdefault(key.split("/")[1], {"rss_mb": 0.0, "pss_mb": 0.0, "cpu_pct": 0.0})
        totals["rss_mb"] += memory["Rss"] / 1024
        totals["pss_mb"] += memory["Pss"] / 1024
        totals["cpu_pct"] += 100 * (cpu_seconds(pid) - before[key]) / seconds
    return {
        "clusters": len(fleet.clusters),
        "processes": len(pids),
        "total": {k: round(sum(c[k] for c in per.values()), 1) for k in ("rss_mb", "pss_mb", "cpu_pct")},
        "per_component": {c: {k: round(v, 1) for k, v in t.items()} for c, t in per.items()},
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def smaps(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` in kB (``Rss``, ``Pss``, ``Anonymous``, ...)."""
    rows = (line.split() for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return {row[0].rstrip(":"): int(row[1]) for row in rows if len(row) >= 2 and row[1].isdigit()}


def main(seconds: float) -> None:
    """Start a fleet, print its start time and idle cost, stop it."""
    with tempfile.TemporaryDirectory(prefix="ringctl-fleet-") as scratch:
        fleet = Fleet(Path(scratch))
        try:
            fleet.build()
            fleet.start()
            starts = {c.context: round(c.start_seconds, 1) for c in fleet.clusters.values()}
            print(json.dumps({"start_seconds": round(fleet.start_seconds, 1), "cluster_start_seconds": starts}))
            time.sleep(10)  # let start-up work settle before measuring idle
            print(json.dumps(cost(fleet, seconds), indent=2))
        finally:
            fleet.stop()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
