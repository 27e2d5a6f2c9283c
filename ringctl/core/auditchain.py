"""The audit export: a release's events as a hash chain, and its check (``ringctl history --verify``).

Each entry carries ``prev``, the hash of the entry before it (the first: the hash of the
release id), and ``hash``, the SHA-256 of its own canonical JSON (sorted keys, no spaces,
``hash`` left out). Changing, removing, inserting or reordering an entry breaks the chain
from there on; the export's ``head`` (the last hash) recorded elsewhere, e.g. in the
pipeline's log, proves nothing was cut off the end. Pure.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

#: The export format's version (``format`` of the document).
FORMAT = "ringctl-audit/1"


def digest(value: Any) -> str:
    """``sha256:<hex>`` of ``value``'s canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def chain(release_id: str, events: list[dict[str, Any]], exported_at: datetime, exported_by: str) -> dict[str, Any]:
    """The export document of ``release_id``'s ``events`` (dicts, oldest first)."""
    entries = []
    prev = digest(release_id)
    for seq, event in enumerate(events, start=1):
        entry = {**event, "seq": seq, "prev": prev}
        entry["hash"] = prev = digest(entry)
        entries.append(entry)
    return {
        "format": FORMAT,
        "release_id": release_id,
        "exported_at": exported_at.isoformat(),
        "exported_by": exported_by,
        "entries": entries,
        "head": prev,
    }


def verify(document: Any) -> str:
    """Check an export; the first break as one sentence (``ValueError``), else a summary of what holds."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f'not a ringctl audit export (no "format": "{FORMAT}")')
    release_id = document.get("release_id")
    entries = document.get("entries")
    if not isinstance(release_id, str) or not isinstance(entries, list):
        raise ValueError("the export has no release_id or no entries")
    prev = digest(release_id)
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {index} is not an object")
        what = f"entry {index} ({entry.get('action', '?')} by {entry.get('actor', '?')} at {entry.get('at', '?')})"
        if entry.get("seq") != index:
            raise ValueError(f"{what} has seq {entry.get('seq')!r}: an entry was removed, inserted or reordered")
        if entry.get("prev") != prev:
            raise ValueError(f"{what}: prev does not match the hash of the entry before it (changed or removed)")
        content = {key: value for key, value in entry.items() if key != "hash"}
        if entry.get("hash") != digest(content):
            raise ValueError(f"{what}: its content does not match its hash (the entry was changed)")
        prev = entry["hash"]
    if document.get("head") != prev:
        raise ValueError("head does not match the last entry's hash (entries were cut off or added at the end)")
    return f"{len(entries)} entries of {release_id} verified; head {prev}"
