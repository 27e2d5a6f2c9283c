"""What a release version may be (an OCI image tag: a release deploys ``<image>:<version>``), and an image's tag."""

from __future__ import annotations

import re

__all__ = ["VERSION_PATTERN", "check_version", "image_tag"]

#: An OCI distribution-spec tag: a word character, then up to 127 word characters, dots and dashes.
VERSION_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def check_version(version: str) -> str:
    """``version`` if it is a valid image tag; ``ValueError`` saying why otherwise. Pure."""
    if not version.strip():
        raise ValueError("must not be empty")
    if VERSION_PATTERN.fullmatch(version) is None:
        shown = version if len(version) <= 40 else version[:40] + "..."
        raise ValueError(
            f"{shown!r} is not a valid image tag: use up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-' (e.g. 1.4.2)"
        )
    return version


def image_tag(image: str) -> str | None:
    """The tag of ``image`` when it is ``name:tag``; ``None`` for a digest (``name@sha256:...``) or no tag. Pure.

    A colon before the last ``/`` belongs to the registry's port (``registry:5000/app``), not a tag.
    """
    if "@" in image:
        return None
    name = image.rpartition("/")[2]
    if ":" not in name:
        return None
    tag = name.rpartition(":")[2]
    return tag if VERSION_PATTERN.fullmatch(tag) else None
