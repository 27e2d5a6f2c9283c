"""ringctl as operators run it: a Temporal dev server, `ringctl worker` and the CLI, each its own process.

Nothing here imports the worker into the test process: the server is the
``temporal`` binary, the worker is the installed ``ringctl`` console script, and
every command is a ``ringctl`` subprocess whose exit code and output the tests read.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringctl.core.binaries import find_binary
from ringctl.core.searchattributes import SEARCH_ATTRIBUTES, type_name
from tests.support.cli_runs import RINGCTL, Run, ringctl
from tests.support.polling import wait_until

#: The plan operators use: the repository's rings.yaml, unmodified.
SHIPPED_PLAN = str(Path(__file__).resolve().parents[2] / "rings.yaml")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class TemporalServer:
    """``temporal server start-dev`` on loopback with its own database file."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> TemporalServer:
        """Start the server and wait until it answers."""
        temporal = find_binary("temporal")
        log = open(self.directory / "temporal.log", "ab")  # noqa: SIM115  (the process owns it)
        self.process = subprocess.Popen(
            [
                temporal,
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ui-port",
                str(free_port()),
                "--headless",
                "--log-level",
                "error",
                "--db-filename",
                str(self.directory / "temporal.db"),
                *(arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}={type_name(key)}")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        probe = [temporal, "operator", "namespace", "list", "--address", self.address]
        wait_until(
            lambda: subprocess.run(probe, capture_output=True, timeout=10).returncode == 0, 30, "the Temporal server"
        )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (``SIGKILL`` to simulate a crash)."""
        if self.process is not None:
            _stop(self.process, sig)


@dataclass
class Worker:
    """A ``ringctl worker`` process with the sandbox providers, keeping their state in ``state_dir``.

    ``providers``, if given, replaces the sandbox provider arguments (``--deploy-target sandbox
    --metrics-source sandbox --sandbox-state STATE_DIR``), e.g. ``("--deploy-target", "kubernetes",
    "--kubeconfig", FILE, "--metrics-source", "sandbox", "--sandbox-state", DIR)``.
    """

    address: str
    task_queue: str
    state_dir: Path
    log_path: Path
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    providers: tuple[str, ...] | None = None

    def provider_args(self) -> tuple[str, ...]:
        """The provider arguments this worker is started with."""
        if self.providers is not None:
            return self.providers
        return ("--deploy-target", "sandbox", "--metrics-source", "sandbox", "--sandbox-state", str(self.state_dir))

    def start(self) -> Worker:
        """Start the worker and wait until it polls its task queue."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115  (the process owns it)
        self.process = subprocess.Popen(
            [
                RINGCTL,
                "worker",
                *self.provider_args(),
                "--task-queue",
                self.task_queue,
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEMPORAL_ADDRESS": self.address},
        )
        wait_until(lambda: "worker polling" in self.log() or self.process.poll() is not None, 30, "the worker")
        assert self.process.poll() is None, f"the worker exited:\n{self.log()}"
        return self

    def log(self) -> str:
        """What the worker wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-whatever, as on a node failure."""
        if self.process is not None:
            _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the worker."""
        if self.process is not None:
            _stop(self.process)


@dataclass
class Operator:
    """Runs ``ringctl`` commands as a person or pipeline would, against one Temporal server."""

    address: str
    task_queue: str

    def run(self, *args: str, actor: str = "oncall", timeout: float = 30) -> Run:
        """``ringctl ARGS`` as ``actor``: its exit code, stdout and stderr."""
        return ringctl(*args, env={"TEMPORAL_ADDRESS": self.address, "RINGCTL_ACTOR": actor}, timeout=timeout)

    def start(self, service: str, version: str, *args: str, plan: str = SHIPPED_PLAN) -> str:
        """``ringctl release start`` as the pipeline; the release id."""
        done = self.run(
            "release",
            "start",
            "--service",
            service,
            "--version",
            version,
            "--plan",
            plan,
            "--task-queue",
            self.task_queue,
            *args,
            actor="ci-pipeline",
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def approve_japan(self, release: str, managers: tuple[str, ...] = ("alice", "bob")) -> dict[str, Any]:
        """Approve Japan as each of ``managers``; override its window as carol if it is closed now; the status."""
        for manager in managers:
            done = self.run("approve", release, "--ring", "japan", "--comment", "go", actor=manager)
            assert done.returncode == 0, done.stderr
        status = self.wait_for(release, lambda s: s["state"] != "awaiting_approval", 20, "the approvals to count")
        if status["state"] == "awaiting_window":  # Japan's business hours, holidays and year-end freeze stay in force
            done = self.run(
                "approve", release, "--ring", "japan", "--override-window", "--reason", "system test", actor="carol"
            )
            assert done.returncode == 0, done.stderr
        return status

    def status(self, release: str) -> dict[str, Any] | None:
        """``ringctl status RELEASE --output json``, or ``None`` when it cannot be read now."""
        done = self.run("status", release, "--output", "json", timeout=20)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def wait_for(
        self, release: str, ready: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll the release's status until ``ready(status)``; that status."""
        result: dict[str, Any] = wait_until(
            lambda: (s := self.status(release)) is not None and ready(s) and s, timeout, what, every=0.3
        )
        return result

    def wait_state(self, release: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the release is in one of ``states``."""
        return self.wait_for(release, lambda s: s["state"] in states, timeout, f"{release} in {states}")

    def events(self, status: dict[str, Any], action: str) -> list[dict[str, Any]]:
        """The release's audit events of one ``action``."""
        return [e for e in status["events"] if e["action"] == action]


def ring_of(status: dict[str, Any], name: str) -> dict[str, Any]:
    """One ring's status."""
    ring: dict[str, Any] = next(r for r in status["rings"] if r["name"] == name)
    return ring
