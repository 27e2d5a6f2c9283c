"""Each benchmark once at a tiny size, so none of them rots; the figures come from the full runs (BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.components import require
from tests.support.prometheus_server import find_prometheus

ROOT = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str, timeout: float = 120) -> str:
    """Run ``bench/SCRIPT ARGS``; what it printed (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_history_bound_prints_each_run_beside_temporals_limits() -> None:
    out = bench("history_bound.py", "--regions", "2", "--days", "0.05")
    assert "x the 10,240-event warning" in out and "x the 10 MB warning" in out
    assert "target: every run under 10,240 events and 10 MB: met" in out


def test_cli_startup_prints_a_verdict_per_command_and_where_the_time_goes() -> None:
    out = bench("cli_startup.py", "--runs", "1")
    verdicts = [line for line in out.splitlines() if "target <=" in line]
    assert [line.split()[1] for line in verdicts] == ["--help", "validate", "status"], out
    assert "where the time goes" in out


def test_orchestration_runs_its_quick_size() -> None:
    out = bench("orchestration.py", "--quick", timeout=300)
    assert "ring transitions" in out and "rollback fan-out" in out and "concurrent releases" in out


def test_detection_to_rollback_runs_once() -> None:
    require(find_prometheus() is not None, "prometheus binary not found (apt-get install prometheus)")
    out = bench("detection_to_rollback.py", "--runs", "1", timeout=180)
    assert "detection to first rollback call" in out


def test_gate_tick_measures_this_checkout_beside_the_baseline_revision() -> None:
    out = bench("gate_tick.py", "--releases", "3", "--regions", "2", "--seconds", "4", timeout=300)
    assert "baseline aaa43ac" in out and "this checkout" in out
    assert "workflow tasks / tick" in out and "memory per in-flight release" in out
    assert "target: workflow tasks per tick at least halved" in out


def test_bake_accuracy_runs_once() -> None:
    out = bench("bake_accuracy.py", "--releases", "1", timeout=180)
    assert "target: release wall time <= 1.02 x (configured waits + provider time)" in out


def test_list_waiting_over_a_thousand_waiting_releases_takes_under_a_second() -> None:
    out = bench("waiting_list.py", "--releases", "1000", "--runs", "3", timeout=300)
    assert "target: list --waiting over 1000 waiting releases under 1 s: met" in out, out


def test_evidence_gates_run_side_by_side() -> None:
    out = bench("evidence.py", "--releases", "2", "--unchanged", "5")
    assert "fail a 2x regression" in out and "kayenta once" in out and "target: false fails" in out
