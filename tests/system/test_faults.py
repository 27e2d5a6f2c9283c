"""Faults, one run of each (issue 9): worker and server kills in every phase, races, hung provider calls.

Each scenario of :mod:`tests.support.faults` releases the shipped rings.yaml at
``--speed 10000`` through ``ringctl worker`` processes and the ``ringctl`` CLI,
injects its fault, and returns a record judged from the sandbox's records and
the release's audit. The record must be perfect: the release ends as it would
have without the fault, no region gets the image twice or loses it, no ring is
promoted wrongly, no rollback is lost, and the release recovers within
:data:`~tests.support.faults.RECOVERY_BOUND` seconds. ``scripts/reliability-report``
runs the same scenarios N times and writes RELIABILITY.md. The file takes about
6-7 minutes (15 scenarios, most of them a whole release to Japan's approval).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import FAULTS, RECOVERY_BOUND, FaultStack
from tests.support.processes import TemporalServer


@pytest.fixture
def fault_stack(temporal_server: TemporalServer, tmp_path: Path) -> Iterator[FaultStack]:
    """A fresh task queue and sandbox state directory on the session's server; workers stopped afterwards."""
    stack = FaultStack.fresh(temporal_server, tmp_path)
    yield stack
    stack.close()


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(fault_stack: FaultStack, name: str) -> None:
    record = FAULTS[name].run(fault_stack)
    where = f"{record}\nlogs: {fault_stack.directory}"
    assert record.ended_correctly, where
    assert (record.duplicate_deploys, record.lost_deploys) == (0, 0), where
    assert (record.wrong_promotions, record.lost_rollbacks) == (0, 0), where
    assert record.perfect(), f"recovery above {RECOVERY_BOUND:g} s: {where}"
