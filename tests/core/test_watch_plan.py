"""The plan's post-release ``watch:`` (issue 14): off by default, a duration, divided by ``--speed``; its payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from ringctl.core.errors import PlanError
from ringctl.core.planfile import load_plan, parse_plan
from ringctl.core.timescale import scale_plan
from ringctl.workflows.models import Continued, Phase
from tests.support.plans import plan_data


def test_no_plan_watches_unless_it_says_so_the_shipped_one_included() -> None:
    assert parse_plan(yaml.safe_dump(plan_data())).watch == timedelta(0)
    assert load_plan().watch == timedelta(0)
    assert parse_plan(yaml.safe_dump(plan_data(watch="24h"))).watch == timedelta(hours=24)


def test_a_negative_or_misspelt_watch_is_reported_at_its_field() -> None:
    with pytest.raises(PlanError, match="watch"):
        parse_plan(yaml.safe_dump(plan_data(watch="-1h")))
    with pytest.raises(PlanError, match="watch"):
        parse_plan(yaml.safe_dump(plan_data(watch={"for": "24h"})))


def test_speed_divides_the_watch_like_a_bake() -> None:
    plan = parse_plan(yaml.safe_dump(plan_data(watch="24h")))
    assert scale_plan(plan, 10_000).watch == timedelta(seconds=8.64)


def test_a_continued_watch_round_trips_and_older_continued_payloads_still_decode() -> None:
    status = {
        "release_id": "checkout@1.0.0",
        "service": "checkout",
        "version": "1.0.0",
        "image": "registry.example.com/checkout:1.0.0",
        "state": "baking",
        "started_by": "ci",
        "started_at": "2026-12-03T10:00:00Z",
        "updated_at": "2026-12-03T10:00:00Z",
        "rings": [],
    }
    older = Continued.model_validate({"status": status, "ring": 2, "phase": "bake", "remaining": "PT60S"})
    assert older.phase is Phase.BAKE and older.remaining == timedelta(seconds=60)
    watching = older.model_copy(update={"ring": 3, "phase": Phase.WATCH, "holding": True})
    assert Continued.model_validate_json(watching.model_dump_json()) == watching
