"""The audit export's hash chain: what it proves and where it breaks (ringctl history --verify)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from ringctl.core.auditchain import chain, verify

EVENTS = [
    {"at": "2026-12-03T10:00:00Z", "actor": "ci", "action": "start", "detail": "checkout 2.0.0"},
    {
        "at": "2026-12-03T10:05:00Z",
        "actor": "alice",
        "action": "approve",
        "ring": "japan",
        "key_fingerprint": "SHA256:x",
    },
    {"at": "2026-12-03T10:09:00Z", "actor": "ringctl", "action": "complete"},
]


def export() -> dict[str, Any]:
    return chain("checkout@2.0.0", copy.deepcopy(EVENTS), datetime(2026, 12, 3, tzinfo=UTC), "auditor")


def test_an_untouched_export_verifies_and_each_entry_links_to_the_one_before() -> None:
    document = export()
    assert verify(document) == f"3 entries of checkout@2.0.0 verified; head {document['head']}"
    entries = document["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[1]["prev"] == entries[0]["hash"] and entries[2]["prev"] == entries[1]["hash"]


def test_the_chain_is_bound_to_its_release() -> None:
    other = chain("checkout@2.0.1", copy.deepcopy(EVENTS), datetime(2026, 12, 3, tzinfo=UTC), "auditor")
    assert other["head"] != export()["head"]


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda d: d["entries"][1].update(actor="mallory"), "entry 2 (approve by mallory"),
        (lambda d: d["entries"].pop(1), "entry 2 (complete by ringctl"),
        (lambda d: d["entries"].reverse(), "entry 1 (complete by ringctl"),
        (lambda d: d["entries"].pop(), "head does not match"),
        (lambda d: d.update(release_id="checkout@9.9.9"), "entry 1 (start by ci"),
        (lambda d: d.pop("format"), "not a ringctl audit export"),
    ],
)
def test_a_changed_removed_reordered_or_cut_export_fails_naming_where(tamper: Any, says: str) -> None:
    document = export()
    tamper(document)
    with pytest.raises(ValueError, match=None) as failure:
        verify(document)
    assert says in str(failure.value)
