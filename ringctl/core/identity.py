"""Who is acting: recorded with every command a person or pipeline sends."""

from __future__ import annotations

import getpass
import os

#: Environment variable a pipeline sets to name itself (``--as`` takes precedence).
ACTOR_ENV = "RINGCTL_ACTOR"


def current_actor(explicit: str | None = None) -> str:
    """``--as``, else ``$RINGCTL_ACTOR``, else the operating-system user."""
    for candidate in (explicit, os.environ.get(ACTOR_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"
