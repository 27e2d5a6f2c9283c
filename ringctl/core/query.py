"""Query templating: the plan's PromQL templates with ``{service}``-style placeholders filled in."""

from __future__ import annotations

from datetime import timedelta


def render_query(template: str, variables: dict[str, str]) -> str:
    """Substitute ``{service}``-style placeholders, leaving PromQL's own braces alone."""
    out = template
    for key, value in variables.items():
        out = out.replace("{" + key + "}", value)
    return out


def promql_duration(window: timedelta) -> str:
    """A window as a PromQL duration: whole seconds (``300s``), else milliseconds."""
    seconds = window.total_seconds()
    whole = int(seconds)
    return f"{whole}s" if whole == seconds else f"{int(seconds * 1000)}ms"
