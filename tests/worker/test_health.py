"""The worker's health endpoint: ready only while Temporal answers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import httpx

from ringctl.worker.telemetry import serve_health
from tests.support.prometheus_server import free_port


class _Unreachable:
    async def check_health(self, **_: Any) -> bool:
        raise RuntimeError("connection refused")


async def test_readyz_is_503_while_temporal_does_not_answer_and_livez_is_200() -> None:
    port = free_port()
    client = cast(Any, SimpleNamespace(service_client=_Unreachable()))
    server = await serve_health(client, f"127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.text) == (503, "temporal unreachable")
            assert (await http.get("/livez")).status_code == 200
    finally:
        server.close()
