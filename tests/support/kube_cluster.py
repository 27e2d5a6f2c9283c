"""The session's Kubernetes control plane: one ``scripts/testenv`` cluster with a context per region.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK fake nodes, built from the Go
module proxy and cached outside the repository (``scripts/testenv build``). The ``kube`` fixture
starts it once per session (in a private workdir unless ``RINGCTL_TESTENV_WORKDIR`` is set) and
stops it at the end; its value is ``scripts/testenv start``'s JSON (``kubeconfig``,
``admin_context``, ...). The system tier's fleet (one cluster per kube context of the shipped
plan) is :mod:`tests.support.fleet`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import kube_testenv
from tests.support.components import require

#: The regions (contexts and namespaces) of the session's cluster.
REGIONS = ["staging-1", "canary-1", "us-east-1", "eu-west-1"]


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real control plane with one context (and namespace) per region; stopped afterwards."""
    saved = os.environ.get("RINGCTL_TESTENV_WORKDIR")
    if saved is None:  # a private cluster: parallel sessions must not recreate each other's
        os.environ["RINGCTL_TESTENV_WORKDIR"] = str(tmp_path_factory.mktemp("kube-testenv"))
    try:
        build = subprocess.run(
            [sys.executable, str(kube_testenv.SCRIPT), "build"],
            check=False,
            capture_output=True,
            text=True,
            timeout=float(os.environ.get("RINGCTL_TESTENV_BUILD_TIMEOUT", "3600")),
        )
        if build.returncode != 0:
            tail = "\n".join(build.stderr.splitlines()[-20:])
            require(False, f"the Kubernetes test control plane cannot be built (scripts/testenv build):\n{tail}")
        info = start_with_retries()
        try:
            yield info
        finally:
            kube_testenv.stop_testenv()
    finally:
        if saved is None:
            os.environ.pop("RINGCTL_TESTENV_WORKDIR", None)


@contextmanager
def start_lock() -> Iterator[None]:
    """Hold a machine-wide lock while a cluster is created (see :func:`start_with_retries`)."""
    cache = Path(os.environ.get("RINGCTL_TESTENV_CACHE", Path.home() / ".cache" / "ringctl-testenv"))
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_with_retries(attempts: int = 3) -> dict[str, Any]:
    """Start the cluster; retry (with a fresh cluster) when a start fails.

    kwokctl picks its component ports by probing downwards from 32766, so two clusters created at
    the same moment can pick the same ports: one never gets Ready nodes, or its API server silently
    uses the other cluster's etcd. Starts of parallel test sessions are therefore serialized by
    :func:`start_lock`; a failed start is retried with a fresh cluster.
    """
    errors: list[str] = []
    for _ in range(attempts):
        try:
            with start_lock():
                return kube_testenv.start_testenv(REGIONS)
        except RuntimeError as exc:
            errors.append(str(exc))
            try:
                kube_testenv.stop_testenv()
            except RuntimeError as stop_error:
                errors.append(f"stop: {stop_error}")
    pytest.fail("the Kubernetes test control plane did not start:\n" + "\n---\n".join(errors))
