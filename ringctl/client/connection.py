"""Connecting to Temporal, configured the way Temporal's own tools are.

Settings come from ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
``TEMPORAL_TLS*`` and the Temporal config file profile (``TEMPORAL_PROFILE``),
then from explicit flags, which win.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, TLSConfig

from ringctl.core.errors import UnavailableError
from ringctl.core.payloads import DATA_CONVERTER


@dataclass(frozen=True)
class ConnectionOptions:
    """Flags that override the environment; ``None`` keeps the environment's value."""

    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: bool | None = None


def connect_config(options: ConnectionOptions) -> ClientConnectConfig:
    """The environment's and profile's connection settings with ``options`` over them.

    ``--tls`` turns TLS on and keeps the client certificate, CA and server name the
    environment or profile configured (it used to replace them with an empty TLS
    setting, so mTLS failed exactly when TLS was asked for); ``--no-tls`` turns it off.
    """
    config = ClientConfig.load_client_connect_config()
    if options.address:
        config["target_host"] = options.address
    if options.namespace:
        config["namespace"] = options.namespace
    if options.api_key:
        config["api_key"] = options.api_key
    if options.tls is True and not isinstance(config.get("tls"), TLSConfig):
        config["tls"] = TLSConfig()
    elif options.tls is False:
        config["tls"] = False
    config.setdefault("target_host", "localhost:7233")
    return config


async def connect(
    options: ConnectionOptions = ConnectionOptions(), identity: str | None = None, runtime: Runtime | None = None
) -> Client:
    """A Temporal client using the pydantic data converter (on ``runtime``: a worker's, with its telemetry)."""
    config = connect_config(options)
    try:
        return await Client.connect(**config, data_converter=DATA_CONVERTER, identity=identity, runtime=runtime)
    except (RPCError, RuntimeError) as exc:
        raise UnavailableError(f"cannot connect to Temporal at {config['target_host']}: {exc}") from exc
