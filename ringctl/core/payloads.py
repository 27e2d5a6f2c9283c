"""How ringctl's clients and workers convert payloads: pydantic JSON, with one cache of type adapters per process.

Temporal builds a payload converter for every workflow run it holds, so
``temporalio.contrib.pydantic``'s converter would build (and keep) its own
pydantic ``TypeAdapter`` for each type of each run: ~120 KB and some
milliseconds per release in flight (bench/gate_tick.py). Here every run shares
one JSON converter, so each type's adapter is built once per process. The
payloads are the same JSON: clients and workers with either converter interoperate.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

#: The process's one JSON converter (its type-adapter cache is thread-safe and bounded at 1024 types).
_JSON = PydanticJSONPlainPayloadConverter()


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, JSON replaced by the process's shared pydantic converter."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _JSON if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


#: The data converter of every ringctl client and worker.
DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)
