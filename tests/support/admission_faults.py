"""A real validating admission webhook that makes one region's API server refuse updates of a Deployment.

:class:`FaultyAdmission` is an HTTPS server (the standard library's ``ThreadingHTTPServer`` behind
``ssl``, with a self-signed certificate for IP 127.0.0.1 made by ``cryptography``) answering
``AdmissionReview`` v1 requests. It denies UPDATEs of one Deployment (a PATCH is an UPDATE to
admission) with scripted HTTP status codes - the next few (:meth:`~FaultyAdmission.deny`) or all
(:meth:`~FaultyAdmission.deny_always`) - optionally only those of one user, allows everything else,
and records every UPDATE of that Deployment it saw. :func:`faulty_admission` installs it on one
region's cluster as a ``ValidatingWebhookConfiguration`` (``failurePolicy: Fail``, rule
``deployments`` - not ``deployments/status``) through the fleet's admin kubeconfig, waits until the
API server calls it, and always removes it (and waits until the API server stops calling it).

kube-apiserver (``k8s.io/apiserver``, ``admission/plugin/webhook/errors.ToStatusErr``) answers the
client with the denial's own ``status``: its code (raised to 400 when below 400), its reason, and its
message prefixed with ``admission webhook "NAME" denied the request:``, and no ``Retry-After``. So a
denial with 409, 500 or 503 reaches the client as exactly that HTTP status (on v1.34.4 every code from
400 up passed through as it was, 600 and 999 too). One PATCH is one review: kube-apiserver checks a
patch's ``resourceVersion`` before validating admission and does not retry a denied update. The
readiness and removal checks are dry-run patches, which this webhook always refuses with
:data:`PROBE_CODE` and does not record.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import config as kube_config
from kubernetes.client import AdmissionregistrationV1Api
from kubernetes.client.exceptions import ApiException

from tests.support.fleet import WORKER_ACCOUNT, Fleet
from tests.support.polling import wait_until

NAME = "ringctl-test-faults"
#: The code every dry-run request is refused with: proof that the API server calls the webhook.
PROBE_CODE = 422
PROBE = "admission probe"
#: ``metav1.StatusReason`` of the codes a test may deny with.
REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(frozen=True)
class Seen:
    """One AdmissionReview of the Deployment and what the webhook answered (``code`` None: allowed)."""

    uid: str
    operation: str
    name: str
    user: str
    code: int | None

    @property
    def allowed(self) -> bool:
        return self.code is None


def worker_user(fleet: Fleet) -> str:
    """The user name the fleet's ``ringctl worker`` calls the API servers as (its ServiceAccount)."""
    return f"system:serviceaccount:{fleet.plan.services[0].workload.namespace}:{WORKER_ACCOUNT}"


class FaultyAdmission:
    """An AdmissionReview v1 endpoint on https://127.0.0.1:PORT denying updates of ``deployment``."""

    def __init__(self, deployment: str, directory: Path, user: str | None = None) -> None:
        self.deployment, self.user = deployment, user
        self._script: list[int] = []
        self._always: int | None = None
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self.ca_pem = _self_signed(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "admission.crt", directory / "admission.key")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/validate"
        self._thread = threading.Thread(target=self._server.serve_forever, name="admission", daemon=True)
        self._thread.start()

    def deny(self, *codes: int) -> None:
        """Deny the next ``len(codes)`` updates with these codes, in order; then allow again."""
        with self._lock:
            self._script = list(codes)

    def deny_always(self, code: int) -> None:
        """Deny every update with ``code``."""
        with self._lock:
            self._always = code

    @property
    def seen(self) -> list[Seen]:
        """Every non-dry-run UPDATE of the Deployment so far, in order."""
        with self._lock:
            return list(self._seen)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def review(self, request: dict[str, Any]) -> dict[str, Any]:
        """The ``response`` of an AdmissionReview."""
        uid, name, user = request["uid"], request.get("name", ""), request["userInfo"]["username"]
        if request["operation"] != "UPDATE" or name != self.deployment:
            return {"uid": uid, "allowed": True}
        if request.get("dryRun"):
            return _denied(uid, PROBE_CODE, PROBE)
        with self._lock:
            code = None
            if self.user in (None, user):
                code = self._script.pop(0) if self._script else self._always
            self._seen.append(Seen(uid, request["operation"], name, user, code))
        return {"uid": uid, "allowed": True} if code is None else _denied(uid, code, "fault injected by the test")


@contextlib.contextmanager
def faulty_admission(
    fleet: Fleet, context: str, service: str, directory: Path, user: str | None = None
) -> Iterator[FaultyAdmission]:
    """A :class:`FaultyAdmission` for ``service``'s Deployment, installed on ``context``'s API server."""
    work = fleet.service(service).workload
    apps = fleet.apps(context)
    labels = apps.read_namespaced_deployment(work.deployment, work.namespace).metadata.labels
    admin = kube_config.new_client_from_config(str(fleet.admin_kubeconfig), context=context, persist_config=False)
    registrations = AdmissionregistrationV1Api(admin)
    hook = FaultyAdmission(work.deployment, directory, user)

    def probe() -> int:
        """Dry-run patch of the Deployment: 0 if admitted, else the HTTP status."""
        patch = {"metadata": {"annotations": {"ringctl.test/probe": "1"}}}
        try:
            apps.patch_namespaced_deployment(work.deployment, work.namespace, patch, dry_run="All")
        except ApiException as exc:
            return int(exc.status or 0) if PROBE in (exc.body or "") else -1
        return 0

    webhook = {
        "name": f"{NAME}.ringctl.test",
        "clientConfig": {"url": hook.url, "caBundle": base64.b64encode(hook.ca_pem).decode()},
        "rules": [
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["deployments"]}
        ],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": work.namespace}},
        "objectSelector": {"matchLabels": labels},
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    }
    try:
        registrations.create_validating_webhook_configuration({"metadata": {"name": NAME}, "webhooks": [webhook]})
        wait_until(lambda: probe() == PROBE_CODE, 30, f"the admission webhook called by {context}")
        yield hook
    finally:
        with contextlib.suppress(ApiException):
            registrations.delete_validating_webhook_configuration(NAME)
        try:
            wait_until(lambda: probe() == 0, 30, f"the admission webhook removed from {context}")
        finally:
            hook.close()


def _denied(uid: str, code: int, message: str) -> dict[str, Any]:
    status = {"code": code, "reason": REASONS.get(code, ""), "message": message}
    return {"uid": uid, "allowed": False, "status": status}


def _handler(hook: FaultyAdmission) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
            body = json.dumps({**answer, "response": hook.review(review["request"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    return Handler


def _self_signed(directory: Path) -> bytes:
    """Write ``admission.crt`` and ``admission.key`` (self-signed, IP SAN 127.0.0.1) to ``directory``; the PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "admission.crt").write_bytes(pem)
    (directory / "admission.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pem
