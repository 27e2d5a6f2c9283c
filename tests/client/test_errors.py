"""The client's one mapping of Temporal's errors to ringctl's CLI-facing errors."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from ringctl.client.errors import from_call_error, from_rpc_error
from ringctl.core.errors import ReleaseError, RingctlError, UnavailableError


def rpc(status: RPCStatusCode, message: str = "the server's words") -> RPCError:
    return RPCError(message, status, b"")


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (RPCStatusCode.NOT_FOUND, ReleaseError, "no release found for 'checkout@1.2.3'"),
        (RPCStatusCode.UNAVAILABLE, UnavailableError, "checkout@1.2.3: Temporal did not answer: the server's words"),
        (
            RPCStatusCode.DEADLINE_EXCEEDED,
            UnavailableError,
            "checkout@1.2.3: Temporal did not answer: the server's words",
        ),
        (RPCStatusCode.PERMISSION_DENIED, ReleaseError, "checkout@1.2.3: the server's words"),
    ],
)
def test_a_read(status: RPCStatusCode, kind: type[RingctlError], text: str) -> None:
    error = from_rpc_error(rpc(status), "checkout@1.2.3")
    assert type(error) is kind and str(error) == text


@pytest.mark.parametrize("status", [RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE, RPCStatusCode.INVALID_ARGUMENT])
def test_a_write_is_never_reported_as_not_applied(status: RPCStatusCode) -> None:
    error = from_rpc_error(rpc(status), "checkout@1.2.3", doing="cannot start release checkout@1.2.3", write=True)
    assert type(error) is ReleaseError
    assert str(error) == "cannot start release checkout@1.2.3: the server's words"


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (RPCStatusCode.UNAVAILABLE, UnavailableError, "Temporal did not answer: the server's words"),
        (RPCStatusCode.PERMISSION_DENIED, ReleaseError, "Temporal refused the call: the server's words"),
    ],
)
def test_an_rpc_error_no_command_mapped(status: RPCStatusCode, kind: type[RingctlError], text: str) -> None:
    error = from_call_error(rpc(status))
    assert type(error) is kind and str(error) == text


def test_anything_else_is_not_mapped() -> None:
    assert from_call_error(ValueError("a bug")) is None
