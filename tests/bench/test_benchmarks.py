"""Each benchmark once at a tiny size, so none of them rots; the figures come from the full runs (BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_history_bound_prints_each_run_beside_temporals_limits() -> None:
    out = bench("history_bound.py", "--regions", "2", "--days", "0.05")
    assert "x the 10,240-event warning" in out and "x the 10 MB warning" in out
    assert "target: every run under 10,240 events and 10 MB: met" in out
