"""Logging configuration: JSON lines in production, readable lines on a terminal.

Temporal's SDK logs through the standard library, ringctl's worker and providers
through structlog. structlog is imported only when it is configured, so a
command that runs neither starts without it (issue 11).
"""

from __future__ import annotations

import logging
import sys


def configure_logging(json: bool | None = None, level: str = "INFO", structured: bool = True) -> None:
    """Configure the standard library root logger once, and structlog too unless ``structured`` is false.

    ``json=None`` picks JSON unless stderr is a terminal.
    """
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not structured:
        return
    import structlog

    as_json = not sys.stderr.isatty() if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
