"""Temporal over mutual TLS, end to end: the worker and the CLI verify the server and present a client
certificate through Debian's nginx (``ssl_verify_client on``) in front of the dev server; a client
without a certificate, or with one the server's CA did not sign, is refused.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from ringctl.client.releases import workflow_id_for
from ringctl.core.binaries import find_binary
from tests.support.cli_runs import RINGCTL, ringctl
from tests.support.polling import wait_until
from tests.support.tls_proxy import SERVER_NAME, MtlsProxy


def tls_env(proxy: MtlsProxy, certificate: str | None = "client") -> dict[str, str]:
    """``TEMPORAL_*`` as the worker's Deployment sets them, for ``certificate`` (None: server-verified TLS only)."""
    env = {
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(proxy.certificates.path("ca.crt")),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
    }
    if certificate:
        env["TEMPORAL_TLS_CLIENT_CERT_PATH"] = str(proxy.certificates.path(f"{certificate}.crt"))
        env["TEMPORAL_TLS_CLIENT_KEY_PATH"] = str(proxy.certificates.path(f"{certificate}.key"))
    return env


def test_worker_and_cli_run_a_release_over_mutual_tls(mtls_proxy: MtlsProxy, tmp_path: Path) -> None:
    env = tls_env(mtls_proxy)
    queue = f"mtls-{uuid.uuid4()}"
    log = tmp_path / "worker.log"
    with open(log, "ab") as out:
        worker = subprocess.Popen(
            [RINGCTL, "worker", "--deploy-target=sandbox", "--metrics-source=sandbox"]
            + [f"--sandbox-state={tmp_path / 'sandbox'}", f"--task-queue={queue}"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "worker polling" in log.read_text() or worker.poll() is not None, 30, "the worker")
        assert worker.poll() is None, log.read_text()
        started = ringctl(
            "release", "start", "--service", "checkout", "--version", "8.0.0", "--speed", "10000",
            "--task-queue", queue, env=env,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_until(
            lambda: (
                '"state": "awaiting_approval"'
                in ringctl("status", "checkout@8.0.0", "--output", "json", env=env).stdout
            ),
            90,
            "the release to reach Japan over mTLS",
        )
        assert "handshake" not in (mtls_proxy.directory / "error.log").read_text()
    finally:
        worker.terminate()
        worker.wait(30)
        # the session's server is shared: leave no checkout release running for the next test (one per service)
        subprocess.run(
            [find_binary("temporal"), "workflow", "terminate", "--workflow-id", workflow_id_for("checkout")]
            + ["--address", mtls_proxy.upstream, "--reason", "test cleanup"],
            capture_output=True,
        )


@pytest.mark.parametrize("certificate", [None, "stranger"], ids=["no-client-certificate", "certificate-of-another-ca"])
def test_a_client_the_server_does_not_trust_is_refused_in_one_line(
    mtls_proxy: MtlsProxy, certificate: str | None
) -> None:
    refused = ringctl("status", "checkout", env=tls_env(mtls_proxy, certificate), timeout=60)
    assert refused.returncode == 4, refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert mtls_proxy.address in refused.stderr or "Temporal" in refused.stderr, refused.stderr
