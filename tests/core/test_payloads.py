"""ringctl's data converter: pydantic JSON, one cache of type adapters for every workflow run of a process."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.contrib.pydantic import pydantic_data_converter

from ringctl.core.payloads import DATA_CONVERTER, PayloadConverter
from ringctl.workflows.models import RegionStatus, ReleaseState, ReleaseStatus, RingStatus
from tests.support.plans import SERVICE


def test_every_payload_converter_of_the_process_shares_one_json_converter() -> None:
    """Temporal builds a converter per workflow run; each must not build its own type adapters."""
    first, second = PayloadConverter(), PayloadConverter()
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]


def test_payloads_are_the_pydantic_converters_both_ways() -> None:
    """Clients and workers on either converter (an older ringctl's) read each other's payloads."""
    now = datetime(2026, 12, 3, tzinfo=UTC)
    status = ReleaseStatus(
        release_id=f"{SERVICE}@1.0.0",
        service=SERVICE,
        version="1.0.0",
        image="registry.example.com/checkout:1.0.0",
        state=ReleaseState.BAKING,
        started_by="ci",
        started_at=now,
        updated_at=now,
        rings=[RingStatus(name="staging", regions=[RegionStatus(name="staging-1")], evaluations=3)],
    )
    ours = DATA_CONVERTER.payload_converter.to_payloads([status])
    theirs = pydantic_data_converter.payload_converter.to_payloads([status])
    assert ours == theirs
    assert pydantic_data_converter.payload_converter.from_payloads(ours, [ReleaseStatus]) == [status]
    assert DATA_CONVERTER.payload_converter.from_payloads(theirs, [ReleaseStatus]) == [status]
