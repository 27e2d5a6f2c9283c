"""Connection settings: the environment and profile, with flags over them, merged without one erasing another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.service import TLSConfig

from ringctl.client import connection
from ringctl.client.connection import ConnectionOptions, connect_config


@pytest.fixture
def client_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A client certificate, key and CA configured through ``TEMPORAL_TLS_*`` as Temporal's CLI reads them."""
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for name, path in files.items():
        path.write_bytes(f"-----{name}-----\n".encode())
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(files["cert"]))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(files["key"]))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(files["ca"]))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal")
    return files["cert"].read_bytes()


async def test_tls_flag_keeps_the_client_certificate_from_the_environment(
    client_certificate: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 12): ``--tls`` replaced the configured mTLS settings with an empty TLSConfig."""
    seen: dict[str, Any] = {}

    async def connect(**config: Any) -> None:
        seen.update(config)

    monkeypatch.setattr(connection.Client, "connect", connect)
    await connection.connect(ConnectionOptions(tls=True))
    tls = seen["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == client_certificate and tls.domain == "temporal.internal"
    assert tls.client_private_key == b"-----key-----\n" and tls.server_root_ca_cert == b"-----ca-----\n"


def test_tls_flag_alone_turns_tls_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    for name in ("TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert connect_config(ConnectionOptions(tls=True))["tls"] == TLSConfig()


def test_no_tls_flag_turns_it_off_and_flags_win(client_certificate: bytes) -> None:
    config = connect_config(ConnectionOptions(address="temporal:7233", namespace="releases", tls=False))
    assert config["tls"] is False
    assert (config["target_host"], config["namespace"]) == ("temporal:7233", "releases")
