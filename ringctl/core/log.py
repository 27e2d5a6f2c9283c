"""Logging configuration: one format per process, JSON lines in production, readable lines on a terminal.

ringctl's worker and providers log through structlog; Temporal's SDK (its Python
side, and its core's lines forwarded by the worker's runtime), httpx and the
Kubernetes client through the standard library. Both render through the same
processors and renderer, so a worker's stderr is one format, never coloured.
structlog is imported only when it is configured, so a command that runs
neither starts without it (issue 11).
"""

from __future__ import annotations

import logging
import sys


def configure_logging(json: bool | None = None, level: str = "INFO", structured: bool = True) -> None:
    """Configure the standard library's root logger once, and structlog too unless ``structured`` is false.

    ``json=None`` picks JSON unless stderr is a terminal.
    """
    if not structured:
        logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        return
    import structlog

    as_json = not sys.stderr.isatty() if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
