"""Replay recorded histories: a workflow change that would break running releases fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ringctl.core.payloads import DATA_CONVERTER
from ringctl.worker import WORKFLOW_RUNNER
from ringctl.workflows.ring_release import RingRelease

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_checked_in() -> None:
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=[RingRelease], data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    await replayer.replay_workflow(history)
