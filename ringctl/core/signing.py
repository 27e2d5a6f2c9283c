"""Ed25519-signed approvals: who approved which release into which ring, provably.

An approver signs an :class:`ApprovalClaim` (release, ring, version, approver,
time) with their private key (``ringctl approve --key``); the workflow's update
validator checks the signature against the public key the plan lists for that
approver (:class:`ApprovalSigning`) and rejects unsigned, forged, tampered,
future-dated or stale approvals with a :class:`~ringctl.core.errors.SigningError`
whose message says exactly what is wrong.

Formats: private keys are PEM, PKCS8, unencrypted; public keys in the plan and
signatures are standard base64 (with padding) of the raw 32-byte key and the
64-byte signature. The signed bytes are :meth:`ApprovalClaim.canonical_bytes`:
a domain separator line then compact, key-sorted JSON with ``signed_at`` as
UTC with microseconds, so equal claims always give equal bytes.

Everything here is pure and deterministic except :func:`generate_keypair`
(randomness) and :func:`load_private_key` (reads one file); ``now`` is always
passed in. Validating :class:`ApprovalSigning` checks each public key's base64
and length with the standard library only; handing the key to ``cryptography``
is a plan-file check (:mod:`ringctl.core.planchecks`), so a plan in a payload decodes
without it. ``cryptography`` is imported by the functions that use it, not with this
module: a plan without public keys validates without it (the CLI's start-up, issue 11).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ringctl.core.durations import format_duration
from ringctl.core.errors import SigningError
from ringctl.core.planchecks import ConfigModel, plan_file_checks

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_MAX_AGE",
    "DOMAIN",
    "ApprovalClaim",
    "ApprovalSigning",
    "SigningError",
    "generate_keypair",
    "load_private_key",
    "public_key_of",
    "sign_claim",
    "verify_claim",
]

#: Prefix of every signed message, so an approval signature is never valid for anything else.
DOMAIN = b"ringctl-approval-v1\n"
#: How far in the future ``signed_at`` may be, for clocks that disagree a little.
CLOCK_SKEW = timedelta(minutes=2)
#: How old a signed approval may be when it is checked.
DEFAULT_MAX_AGE = timedelta(hours=1)

_PUBLIC_KEY_LEN = 32
_SIGNATURE_LEN = 64


def _b64decode(text: str) -> bytes:
    """Strict standard base64; ``ValueError`` on anything else."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: The action of an approval's claim; overrides sign ``override_budget`` or ``override_window``.
APPROVE = "approve"


class ApprovalClaim(BaseModel):
    """What an approver signs: this ``release_id`` may enter ``ring`` at ``version`` (by ``action``).

    ``action`` keeps a signature to the command it was made for: an approval's
    signature cannot be replayed as an override of the same ring. An approval's
    signed bytes are as they were before ``action`` existed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    release_id: str = Field(min_length=1)
    ring: str = Field(min_length=1)
    version: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    signed_at: datetime
    action: str = Field(default=APPROVE, min_length=1)

    @field_validator("signed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("signed_at must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are signed: :data:`DOMAIN` then sorted, compact JSON."""
        body = {
            "approver": self.approver,
            "release_id": self.release_id,
            "ring": self.ring,
            "signed_at": _utc_text(self.signed_at),
            "version": self.version,
        }
        if self.action != APPROVE:
            body["action"] = self.action
        return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _public_key_bytes(approver: str, text: str) -> bytes:
    """The raw 32 bytes of the base64 public key ``text``; ``ValueError`` naming ``approver``. Pure."""
    try:
        raw = _b64decode(text)
    except ValueError:
        raise ValueError(f"public key of {approver!r} is not valid base64") from None
    if len(raw) != _PUBLIC_KEY_LEN:
        raise ValueError(
            f"public key of {approver!r} is {len(raw)} bytes; expected the {_PUBLIC_KEY_LEN} raw bytes "
            "of an Ed25519 key, base64-encoded"
        )
    return raw


def key_fingerprint(approver: str, text: str) -> str:
    """``SHA256:<base64>`` of the raw public key, as ``ssh-keygen -l`` prints fingerprints. Pure.

    Hashed by ``cryptography`` (as signatures are checked), not ``hashlib``: this runs in the
    workflow sandbox, where ``hashlib`` fails.
    """
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SHA256())
    digest.update(_public_key_bytes(approver, text))
    return "SHA256:" + base64.b64encode(digest.finalize()).decode().rstrip("=")


def _decode_public_key(approver: str, text: str) -> Ed25519PublicKey:
    """The Ed25519 key from base64 ``text``; ``ValueError`` naming ``approver``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = _public_key_bytes(approver, text)
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"public key of {approver!r} is not an Ed25519 key ({exc})") from None


class ApprovalSigning(ConfigModel):
    """Plan config: whether approvals must be signed, and each approver's base64 raw Ed25519 public key."""

    signing: Literal["required", "off"] = "off"
    public_keys: dict[str, str] = {}

    @field_validator("signing", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as false (and `on` as true).
        if value is False:
            return "off"
        if value is True:
            return "required"
        return value

    @field_validator("public_keys")
    @classmethod
    def _check_keys(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for approver, key in value.items():
            if not approver:
                raise ValueError("approver names must not be empty")
            if plan_file_checks(info):
                _decode_public_key(approver, key)
            else:
                _public_key_bytes(approver, key)
        return value

    @model_validator(mode="after")
    def _keys_when_required(self) -> ApprovalSigning:
        if self.signing == "required" and not self.public_keys:
            raise ValueError("signing: required needs public_keys for the approvers")
        return self

    def fingerprint(self, approver: str) -> str | None:
        """The fingerprint of ``approver``'s public key when signing is required, else ``None``."""
        key = self.public_keys.get(approver)
        return key_fingerprint(approver, key) if self.signing == "required" and key else None

    def verify(
        self, claim: ApprovalClaim, signature: str | None, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE
    ) -> None:
        """:func:`verify_claim` when signing is required; nothing when it is off."""
        if self.signing == "required":
            verify_claim(self.public_keys, claim, signature, now, max_age)


def generate_keypair() -> tuple[bytes, str]:
    """A new key pair: (private key as unencrypted PKCS8 PEM, public key as base64 of its 32 raw bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, _public_b64(key.public_key())


def _public_b64(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _private_key(private_pem: bytes, source: str = "private key") -> Ed25519PrivateKey:
    """Parse ``private_pem``; :class:`SigningError` unless it is an unencrypted Ed25519 PKCS8 PEM."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key: Any = serialization.load_pem_private_key(private_pem, password=None)
    except TypeError as exc:  # encrypted, and we gave no password
        raise SigningError(f"{source} is encrypted; ringctl needs an unencrypted PKCS8 PEM key") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningError(f"{source} is not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{source} is a {type(key).__name__.lstrip('_')}, not an Ed25519 key")
    return key


def public_key_of(private_pem: bytes) -> str:
    """The base64 raw public key that belongs to ``private_pem`` (what the plan lists)."""
    return _public_b64(_private_key(private_pem).public_key())


def load_private_key(path: str | os.PathLike[str]) -> bytes:
    """Read and check an Ed25519 private key file; returns its PEM bytes for :func:`sign_claim`."""
    try:
        with open(path, "rb") as fh:
            pem = fh.read()
    except OSError as exc:
        raise SigningError(f"cannot read private key {os.fspath(path)}: {exc.strerror or exc}") from exc
    _private_key(pem, f"private key {os.fspath(path)}")
    return pem


def sign_claim(private_pem: bytes, claim: ApprovalClaim) -> str:
    """Sign ``claim``'s canonical bytes; returns the base64 signature."""
    signature = _private_key(private_pem).sign(claim.canonical_bytes())
    return base64.b64encode(signature).decode("ascii")


def verify_claim(
    public_keys: dict[str, str],
    claim: ApprovalClaim,
    signature: str | None,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> None:
    """Check that ``signature`` is ``claim.approver``'s signature of ``claim`` and that it is fresh.

    Freshness: ``signed_at`` at most :data:`CLOCK_SKEW` after ``now`` and at most
    ``max_age`` before it (both bounds inclusive). Raises :class:`SigningError`.
    """
    from cryptography.exceptions import InvalidSignature

    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    who = claim.approver
    if not signature:
        raise SigningError(
            f"approval by {who!r} is not signed; this plan requires signed approvals (ringctl approve --key ...)"
        )
    if who not in public_keys:
        listed = ", ".join(repr(a) for a in sorted(public_keys)) or "none"
        raise SigningError(
            f"approval by {who!r} is signed, but the plan has no public key for {who!r} "
            f"(approval public_keys lists: {listed})"
        )
    try:
        key = _decode_public_key(who, public_keys[who])
    except ValueError as exc:
        raise SigningError(f"the plan's {exc}") from exc
    try:
        raw = _b64decode(signature)
    except ValueError:
        raise SigningError(f"signature of the approval by {who!r} is malformed: not valid base64") from None
    if len(raw) != _SIGNATURE_LEN:
        raise SigningError(
            f"signature of the approval by {who!r} is malformed: {len(raw)} bytes, "
            f"an Ed25519 signature has {_SIGNATURE_LEN}"
        )
    try:
        key.verify(raw, claim.canonical_bytes())
    except InvalidSignature:
        raise SigningError(
            f"signature does not match: the approval was not signed by {who}'s key, or a field was changed"
        ) from None
    age = now.astimezone(UTC) - claim.signed_at
    if -age > CLOCK_SKEW:
        raise SigningError(
            f"approval by {who!r} is signed {format_duration(-age)} in the future "
            f"(signed_at {_utc_text(claim.signed_at)}, now {_utc_text(now)}; "
            f"at most {format_duration(CLOCK_SKEW)} of clock skew is allowed); check the signer's clock"
        )
    if age > max_age:
        raise SigningError(
            f"approval by {who!r} was signed {format_duration(age)} ago (signed_at {_utc_text(claim.signed_at)}), "
            f"more than the {format_duration(max_age)} allowed; approve again"
        )
