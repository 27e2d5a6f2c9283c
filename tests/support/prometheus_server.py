"""A real Prometheus for tests: scrapes the traffic simulator every second.

:class:`PrometheusServer` writes a config scraping the given targets with
``scrape_interval: 1s``, starts the ``prometheus`` binary (Debian's package
installs ``/usr/bin/prometheus``) on 127.0.0.1 and a free port with its TSDB in a
temporary directory, and waits until ``/-/ready`` answers and every target is up.
:meth:`~PrometheusServer.stop` keeps the port and the data directory, so
:meth:`~PrometheusServer.start` brings the same server back (a test can take
Prometheus away mid-bake); :meth:`~PrometheusServer.close` also deletes the data.

A conftest turns it into a fixture:

    with TrafficSimulator() as sim, PrometheusServer([sim.target]) as prom:
        yield prom.url
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

#: Where Debian's ``prometheus`` package installs the server.
DEBIAN_BINARY = "/usr/bin/prometheus"

#: Seconds to wait for readiness and for the targets' first successful scrape.
DEFAULT_START_TIMEOUT = 30.0


def find_prometheus() -> str | None:
    """Path of the ``prometheus`` binary: ``$PROMETHEUS_BINARY``, then ``PATH``, then Debian's; ``None`` if absent."""
    explicit = os.environ.get("PROMETHEUS_BINARY")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("prometheus")
    if found:
        return found
    return DEBIAN_BINARY if os.access(DEBIAN_BINARY, os.X_OK) else None


def prometheus_version(binary: str) -> str:
    """The first line of ``prometheus --version``, e.g. ``prometheus, version 2.42.0+ds (...)``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def render_config(
    targets: list[str], scrape_interval: str = "1s", job: str = "traffic", rule_files: list[str] | None = None
) -> str:
    """A ``prometheus.yml`` scraping ``targets`` (``host:port``) every ``scrape_interval``, evaluating ``rule_files``."""
    target_list = ", ".join(f'"{t}"' for t in targets)
    rules = "rule_files:\n" + "".join(f'  - "{f}"\n' for f in rule_files) if rule_files else ""
    return (
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  scrape_timeout: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        f"{rules}"
        "scrape_configs:\n"
        f"  - job_name: {job}\n"
        f"    static_configs:\n"
        f"      - targets: [{target_list}]\n"
    )


class PrometheusServer:
    """One Prometheus process that can be stopped and started again on the same port and data."""

    def __init__(
        self,
        targets: list[str],
        *,
        binary: str | None = None,
        scrape_interval: str = "1s",
        host: str = "127.0.0.1",
        port: int | None = None,
        workdir: str | Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        rules: str | None = None,
    ) -> None:
        """Prepare (not start) a server scraping ``targets``; the binary defaults to :func:`find_prometheus`.

        ``rules``, a rule file's YAML, is evaluated every ``scrape_interval`` (alerts show as ``ALERTS`` series).
        """
        self._binary = binary or find_prometheus()
        self._targets = list(targets)
        self._host = host
        self._port = port or free_port(host)
        self._own_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="ringctl-prom-"))
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.config_path = self._workdir / "prometheus.yml"
        self.data_path = self._workdir / "data"
        self.log_path = self._workdir / "prometheus.log"
        rule_files = []
        if rules is not None:
            rule_files.append(str(self._workdir / "rules.yml"))
            (self._workdir / "rules.yml").write_text(rules)
        self.config_path.write_text(render_config(self._targets, scrape_interval, rule_files=rule_files))
        #: Seconds the last :meth:`start` took until ready and all targets up.
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The listen port, fixed for the life of this object."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def binary(self) -> str | None:
        """The binary this server runs."""
        return self._binary

    def start(self, timeout: float | None = None) -> PrometheusServer:
        """Start the process and wait until it is ready and scraping; ``RuntimeError`` with the log tail if not."""
        if self.running:
            return self
        if self._binary is None:
            raise RuntimeError("prometheus binary not found (apt-get install prometheus, or set PROMETHEUS_BINARY)")
        self.stop()  # reap a process that died on its own, and close its log
        began = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self._process = subprocess.Popen(
            [
                self._binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_path}",
                f"--web.listen-address={self._host}:{self._port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self._workdir,
        )
        try:
            self._wait_until_up(began + (timeout or self._start_timeout))
        except BaseException:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"prometheus did not start on {self.url}:\n{tail}") from None
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL), keeping port and data for a restart."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> PrometheusServer:
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and delete the temporary directory (if this object created it)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def targets_up(self) -> bool:
        """Whether every configured target has been scraped successfully."""
        response = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=2)
        active = response.json()["data"]["activeTargets"]
        up = {t["labels"].get("instance") for t in active if t.get("health") == "up"}
        return set(self._targets) <= up

    def _wait_until_up(self, deadline: float) -> None:
        ready = False
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise RuntimeError(f"prometheus exited with code {code}")
            try:
                if not ready:
                    ready = httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
                if ready and self.targets_up():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus not ready with all targets up in time")
            time.sleep(0.1)


__all__ = [
    "DEBIAN_BINARY",
    "DEFAULT_START_TIMEOUT",
    "PrometheusServer",
    "find_prometheus",
    "free_port",
    "prometheus_version",
    "render_config",
]
