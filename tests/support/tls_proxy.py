"""Temporal behind mutual TLS: Debian's nginx terminating TLS, verifying client certificates, gRPC to the dev server.

The dev server has no TLS flags, so the tests put nginx (``grpc_pass``, ``ssl_verify_client on``) in
front of it, as a platform team's ingress or Temporal's own frontend would verify workers. The
certificates are made here with ``cryptography``: a CA, the server's (``temporal.example.com``, the
example overlay's ``TEMPORAL_TLS_SERVER_NAME``, and ``127.0.0.1``), a client's signed by the CA, and
a stranger's signed by another CA.
"""

from __future__ import annotations

import ipaddress
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.components import require
from tests.support.polling import wait_until
from tests.support.processes import TemporalServer
from tests.support.prometheus_server import free_port

SERVER_NAME = "temporal.example.com"


def find_nginx() -> str | None:
    """Debian's nginx (``nginx-light``)."""
    return shutil.which("nginx") or (str(Path("/usr/sbin/nginx")) if Path("/usr/sbin/nginx").exists() else None)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class Certificates:
    """PEM files in ``directory``: ca.crt, server.crt/key, client.crt/key, stranger.crt/key."""

    directory: Path

    def make(self) -> Certificates:
        ca_key, other_key = _key(), _key()
        ca = _certificate("ringctl test CA", ca_key, None, ca=True)
        other = _certificate("someone else's CA", other_key, None, ca=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for name, issuer, server in (
            ("server", (ca, ca_key), True),
            ("client", (ca, ca_key), False),
            ("stranger", (other, other_key), False),
        ):
            key = _key()
            _write(self.directory / name, _certificate(f"ringctl {name}", key, issuer, server=server), key)
        return self

    def path(self, name: str) -> Path:
        """``ca.crt``, ``client.crt``, ``client.key``, ..."""
        return self.directory / name


@dataclass
class MtlsProxy:
    """nginx on ``127.0.0.1:port``: TLS with client-certificate verification, gRPC to ``upstream`` (host:port)."""

    upstream: str
    directory: Path
    certificates: Certificates = field(init=False)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> MtlsProxy:
        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("nginx not found (apt-get install nginx-light)")
        self.certificates = Certificates(self.directory / "certs").make()
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / temp).mkdir(parents=True, exist_ok=True)
        config = self.directory / "nginx.conf"
        certs = self.certificates
        config.write_text(
            f"""
daemon off;
worker_processes 1;
pid {self.directory}/nginx.pid;
error_log {self.directory}/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log {self.directory}/access.log;
  client_body_temp_path {self.directory}/body;
  proxy_temp_path {self.directory}/proxy;
  fastcgi_temp_path {self.directory}/fastcgi;
  uwsgi_temp_path {self.directory}/uwsgi;
  scgi_temp_path {self.directory}/scgi;
  server {{
    listen 127.0.0.1:{self.port} ssl http2;
    ssl_certificate {certs.path("server.crt")};
    ssl_certificate_key {certs.path("server.key")};
    ssl_client_certificate {certs.path("ca.crt")};
    ssl_verify_client on;
    client_max_body_size 64m;
    location / {{
      grpc_pass grpc://{self.upstream};
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }}
  }}
}}
""",
            encoding="utf-8",
        )
        log = open(self.directory / "nginx.out", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [nginx, "-c", str(config), "-p", str(self.directory), "-e", str(self.directory / "error.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._listening() or self.process.poll() is not None, 15, "nginx")
        if self.process.poll() is not None:
            raise RuntimeError(f"nginx exited: {(self.directory / 'error.log').read_text(errors='replace')[-2000:]}")
        return self

    def _listening(self) -> bool:
        import socket

        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def mtls_proxy(temporal_server: TemporalServer, tmp_path: Path) -> Iterator[MtlsProxy]:
    """nginx verifying client certificates in front of the session's Temporal server, for one test."""
    require(find_nginx() is not None, "nginx not found (apt-get install nginx-light)")
    started = MtlsProxy(temporal_server.address, tmp_path / "proxy").start()
    yield started
    started.stop()
