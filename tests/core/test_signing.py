"""Unit tests for ringctl.core.signing: Ed25519 approval signatures. Pure and fast (one key file in tmp_path)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from ringctl.core.errors import RingctlError, SigningError
from ringctl.core.signing import (
    CLOCK_SKEW,
    DOMAIN,
    ApprovalClaim,
    ApprovalSigning,
    generate_keypair,
    load_private_key,
    public_key_of,
    sign_claim,
    verify_claim,
)

NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def alice() -> tuple[bytes, str]:
    return generate_keypair()


@pytest.fixture(scope="module")
def mallory() -> tuple[bytes, str]:
    return generate_keypair()


def claim(**changes: object) -> ApprovalClaim:
    fields: dict[str, object] = {
        "release_id": "checkout-1.4.2-x7",
        "ring": "ring-1",
        "version": "1.4.2",
        "approver": "alice",
        "signed_at": NOW - timedelta(minutes=5),
    }
    fields.update(changes)
    return ApprovalClaim.model_validate(fields)


def test_generate_keypair_format(alice: tuple[bytes, str]) -> None:
    pem, public = alice
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS8, unencrypted
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = base64.b64decode(public, validate=True)
    assert len(raw) == 32
    assert raw == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public_key_of(pem) == public
    assert generate_keypair()[1] != public


def test_sign_verify_roundtrip(alice: tuple[bytes, str]) -> None:
    pem, public = alice
    c = claim()
    signature = sign_claim(pem, c)
    assert len(base64.b64decode(signature, validate=True)) == 64
    verify_claim({"alice": public}, c, signature, NOW)
    # Ed25519 is deterministic: same key and claim, same signature.
    assert sign_claim(pem, c) == signature


def test_canonical_bytes_are_stable_and_unambiguous() -> None:
    c = claim(signed_at=datetime(2026, 6, 3, 20, 55, tzinfo=timezone(timedelta(hours=9))))
    data = c.canonical_bytes()
    assert data.startswith(DOMAIN)
    body = json.loads(data[len(DOMAIN) :])
    assert body == {
        "approver": "alice",
        "release_id": "checkout-1.4.2-x7",
        "ring": "ring-1",
        "signed_at": "2026-06-03T11:55:00.000000Z",
        "version": "1.4.2",
    }
    assert data == claim(signed_at=datetime(2026, 6, 3, 11, 55, tzinfo=UTC)).canonical_bytes()
    # Survives the JSON round trip the claim takes through Temporal.
    assert ApprovalClaim.model_validate_json(c.model_dump_json()).canonical_bytes() == data
    # Moving text between fields changes the bytes.
    assert claim(release_id="a", ring="bc").canonical_bytes() != claim(release_id="ab", ring="c").canonical_bytes()


def test_an_override_signs_its_action_and_an_approval_signs_what_it_always_signed() -> None:
    approval = claim()
    assert b"action" not in approval.canonical_bytes()  # signatures made before actions existed still verify
    assert claim(action="approve").canonical_bytes() == approval.canonical_bytes()
    window, budget = claim(action="override_window"), claim(action="override_budget")
    assert b'"action":"override_window"' in window.canonical_bytes()
    assert len({approval.canonical_bytes(), window.canonical_bytes(), budget.canonical_bytes()}) == 3


def test_signed_at_in_another_offset_verifies(alice: tuple[bytes, str]) -> None:
    pem, public = alice
    signed = claim(signed_at=datetime(2026, 6, 3, 20, 55, tzinfo=timezone(timedelta(hours=9))))
    signature = sign_claim(pem, signed)
    verify_claim({"alice": public}, claim(signed_at=datetime(2026, 6, 3, 11, 55, tzinfo=UTC)), signature, NOW)


def test_claim_requires_aware_signed_at_and_known_fields() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        claim(signed_at=datetime(2026, 6, 3, 12, 0))
    with pytest.raises(ValidationError, match="Extra inputs"):
        claim(comment="lgtm")
    with pytest.raises(ValidationError, match="frozen"):
        claim().ring = "ring-2"


def test_wrong_key_is_rejected(alice: tuple[bytes, str], mallory: tuple[bytes, str]) -> None:
    signature = sign_claim(mallory[0], claim())
    with pytest.raises(SigningError) as info:
        verify_claim({"alice": alice[1]}, claim(), signature, NOW)
    assert str(info.value) == (
        "signature does not match: the approval was not signed by alice's key, or a field was changed"
    )
    assert isinstance(info.value, RingctlError)


@pytest.mark.parametrize(
    "tampered",
    [
        {"release_id": "checkout-1.4.3-x8"},
        {"ring": "ring-2"},
        {"version": "1.4.3"},
        {"approver": "bob"},
        {"signed_at": NOW - timedelta(minutes=4)},
        {"signed_at": NOW - timedelta(minutes=5, microseconds=1)},
    ],
)
def test_tampered_field_is_rejected(alice: tuple[bytes, str], tampered: dict[str, object]) -> None:
    signature = sign_claim(alice[0], claim())
    keys = {"alice": alice[1], "bob": alice[1]}  # even if bob's key were alice's
    with pytest.raises(SigningError, match="signature does not match"):
        verify_claim(keys, claim(**tampered), signature, NOW)


@pytest.mark.parametrize("signature", [None, ""])
def test_unsigned_is_rejected(alice: tuple[bytes, str], signature: str | None) -> None:
    with pytest.raises(SigningError) as info:
        verify_claim({"alice": alice[1]}, claim(), signature, NOW)
    assert str(info.value) == (
        "approval by 'alice' is not signed; this plan requires signed approvals (ringctl approve --key ...)"
    )


def test_approver_without_public_key(alice: tuple[bytes, str]) -> None:
    signature = sign_claim(alice[0], claim(approver="carol"))
    with pytest.raises(SigningError, match="plan has no public key for 'carol'.*lists: 'alice'"):
        verify_claim({"alice": alice[1]}, claim(approver="carol"), signature, NOW)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("not base64!!", "malformed: not valid base64"),
        (base64.b64encode(b"short").decode(), "malformed: 5 bytes, an Ed25519 signature has 64"),
        ("AAAA" * 22, "malformed: 66 bytes"),
    ],
)
def test_malformed_signature(alice: tuple[bytes, str], signature: str, message: str) -> None:
    with pytest.raises(SigningError, match=message):
        verify_claim({"alice": alice[1]}, claim(), signature, NOW)


def test_malformed_public_key_in_verify(alice: tuple[bytes, str]) -> None:
    signature = sign_claim(alice[0], claim())
    with pytest.raises(SigningError, match="public key of 'alice' is not valid base64"):
        verify_claim({"alice": "???"}, claim(), signature, NOW)
    with pytest.raises(SigningError, match="public key of 'alice' is 16 bytes"):
        verify_claim({"alice": base64.b64encode(bytes(16)).decode()}, claim(), signature, NOW)


def test_freshness_bounds(alice: tuple[bytes, str]) -> None:
    pem, public = alice
    keys = {"alice": public}

    def verify_signed_at(signed_at: datetime, max_age: timedelta = timedelta(hours=1)) -> None:
        c = claim(signed_at=signed_at)
        verify_claim(keys, c, sign_claim(pem, c), NOW, max_age)

    verify_signed_at(NOW - timedelta(hours=1))  # exactly max_age: accepted
    verify_signed_at(NOW + CLOCK_SKEW)  # exactly the allowed skew: accepted
    verify_signed_at(NOW - timedelta(hours=3), max_age=timedelta(hours=4))
    with pytest.raises(SigningError, match=r"was signed 1h0\.001s ago .* more than the 1h allowed; approve again"):
        verify_signed_at(NOW - timedelta(hours=1, milliseconds=1))
    with pytest.raises(SigningError, match=r"is signed 10m in the future .*check the signer's clock"):
        verify_signed_at(NOW + timedelta(minutes=10))
    assert timedelta(minutes=2) == CLOCK_SKEW


def test_signature_checked_before_freshness(alice: tuple[bytes, str], mallory: tuple[bytes, str]) -> None:
    old = claim(signed_at=NOW - timedelta(days=2))
    with pytest.raises(SigningError, match="signature does not match"):
        verify_claim({"alice": alice[1]}, old, sign_claim(mallory[0], old), NOW)


def test_naive_now_is_rejected(alice: tuple[bytes, str]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_claim({"alice": alice[1]}, claim(), sign_claim(alice[0], claim()), datetime(2026, 6, 3))


# --- key files -----------------------------------------------------------------------------------


def test_load_private_key(tmp_path: Path, alice: tuple[bytes, str]) -> None:
    path = tmp_path / "alice.pem"
    path.write_bytes(alice[0])
    pem = load_private_key(path)
    assert pem == alice[0]
    verify_claim({"alice": alice[1]}, claim(), sign_claim(pem, claim()), NOW)


def test_load_private_key_errors(tmp_path: Path, alice: tuple[bytes, str]) -> None:
    with pytest.raises(SigningError, match=r"cannot read private key .*missing\.pem"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(SigningError, match="cannot read private key"):
        load_private_key(tmp_path)  # a directory

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    with pytest.raises(SigningError, match=r"private key .*garbage\.pem is not a PEM private key"):
        load_private_key(garbage)

    key = serialization.load_pem_private_key(alice[0], password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(SigningError, match="is encrypted; ringctl needs an unencrypted PKCS8 PEM key"):
        load_private_key(encrypted)

    ec = tmp_path / "ec.pem"
    ec.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(SigningError, match="not an Ed25519 key"):
        load_private_key(ec)
    with pytest.raises(SigningError, match="not an Ed25519 key"):
        sign_claim(ec.read_bytes(), claim())


# --- plan config ---------------------------------------------------------------------------------


def test_approval_signing_config(alice: tuple[bytes, str], mallory: tuple[bytes, str]) -> None:
    assert ApprovalSigning().signing == "off"
    cfg = ApprovalSigning.model_validate({"signing": "required", "public_keys": {"alice": alice[1]}})
    c = claim()
    cfg.verify(c, sign_claim(alice[0], c), NOW)
    with pytest.raises(SigningError, match="not signed"):
        cfg.verify(c, None, NOW)
    with pytest.raises(SigningError, match="does not match"):
        cfg.verify(c, sign_claim(mallory[0], c), NOW)
    ApprovalSigning(public_keys={"alice": alice[1]}).verify(c, None, NOW)  # off: nothing to check


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"public_keys": {"bob": "%%%"}}, "public key of 'bob' is not valid base64"),
        ({"public_keys": {"bob": base64.b64encode(bytes(31)).decode()}}, "public key of 'bob' is 31 bytes"),
        ({"signing": "required"}, "signing: required needs public_keys"),
        ({"signing": "yes"}, "'required' or 'off'"),
        ({"signing": "off", "keys": {}}, "Extra inputs"),
    ],
)
def test_approval_signing_config_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ApprovalSigning.model_validate(config)
