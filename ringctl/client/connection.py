"""Connecting to Temporal, configured the way Temporal's own tools are.

Settings come from ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
``TEMPORAL_TLS*`` and the Temporal config file profile (``TEMPORAL_PROFILE``),
then from explicit flags, which win.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError, TLSConfig

from ringctl.core.errors import UnavailableError


@dataclass(frozen=True)
class ConnectionOptions:
    """Flags that override the environment; ``None`` keeps the environment's value."""

    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: bool | None = None


async def connect(options: ConnectionOptions = ConnectionOptions(), identity: str | None = None) -> Client:
    """A Temporal client using the pydantic data converter."""
    config = ClientConfig.load_client_connect_config()
    if options.address:
        config["target_host"] = options.address
    if options.namespace:
        config["namespace"] = options.namespace
    if options.api_key:
        config["api_key"] = options.api_key
    if options.tls is not None:
        config["tls"] = TLSConfig() if options.tls else False
    config.setdefault("target_host", "localhost:7233")
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, identity=identity)
    except (RPCError, RuntimeError) as exc:
        raise UnavailableError(f"cannot connect to Temporal at {config['target_host']}: {exc}") from exc
