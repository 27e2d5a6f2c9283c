"""Pytest-usable helpers around ``scripts/testenv`` (a real KWOK control plane).

Stdlib + subprocess only. Typical use from a session-scoped fixture::

    from tests.support.kube_testenv import start_testenv, stop_testenv

    env = start_testenv(["staging-1", "eu-west-1"])
    # env == {"kubeconfig": "...", "contexts": [...], "server": "https://127.0.0.1:PORT",
    #         "admin_context": "ringctl-admin"}
    ...
    stop_testenv()

The first call may take 10-30 minutes (cold Go build of kube-apiserver & co.);
later calls reuse binaries cached under ~/.cache/ringctl-testenv.

Environment knobs: RINGCTL_TESTENV_WORKDIR (default ~/.cache/ringctl-testenv/run),
RINGCTL_TESTENV_NAME (default ringctl-test), RINGCTL_TESTENV_BUILD_TIMEOUT (seconds, default 3600).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "testenv"

_STDERR_TAIL_LINES = 60


def _common_args() -> list[str]:
    args: list[str] = []
    if os.environ.get("RINGCTL_TESTENV_WORKDIR"):
        args += ["--workdir", os.environ["RINGCTL_TESTENV_WORKDIR"]]
    if os.environ.get("RINGCTL_TESTENV_NAME"):
        args += ["--name", os.environ["RINGCTL_TESTENV_NAME"]]
    return args


def _run(args: list[str], timeout: float) -> str:
    cmd = [sys.executable, str(SCRIPT), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        tail = "\n".join(err.splitlines()[-_STDERR_TAIL_LINES:])
        raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout:.0f}s\n{tail}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-_STDERR_TAIL_LINES:])
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}\n{tail}")
    return proc.stdout


def start_testenv(regions: list[str]) -> dict:
    """Build (or reuse) the binaries, (re)create the cluster, return the `start` JSON."""
    if not regions:
        raise ValueError("regions must not be empty")
    _run(["build"], timeout=float(os.environ.get("RINGCTL_TESTENV_BUILD_TIMEOUT", "3600")))
    out = _run(["start", *_common_args(), "--regions", ",".join(regions)], timeout=600)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise RuntimeError(f"scripts/testenv start printed no JSON: {out!r}") from e


def stop_testenv() -> None:
    """Delete the cluster and kill its processes."""
    _run(["stop", *_common_args()], timeout=300)


def kubectl_binary() -> str:
    """The ``kubectl`` built (and cached) with the control plane."""
    out = _run(["build"], timeout=float(os.environ.get("RINGCTL_TESTENV_BUILD_TIMEOUT", "3600")))
    return str(json.loads(out.strip().splitlines()[-1])["binaries"]["kubectl"])
