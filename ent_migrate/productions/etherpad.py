"""Pads with their history as Etherpad's ``.etherpad`` export (the JSON ``/p/<pad>/export/etherpad`` gives)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["to_etherpad"]


def to_etherpad(pad_id: str, text: str, revisions: Iterable[Mapping[str, Any]]) -> bytes:
    """``pad:<id>`` (head, text, atext) and ``pad:<id>:revs:<n>`` records, as Etherpad imports them."""
    revs = list(revisions)
    out: dict[str, Any] = {
        f"pad:{pad_id}": {
            "atext": {"text": text + "\n", "attribs": f"|1+{len(text) + 1}"},
            "pool": {"numToAttrib": {}, "nextNum": 0},
            "head": len(revs) - 1,
            "chatHead": -1,
            "publicStatus": False,
            "savedRevisions": [],
        }
    }
    for number, rev in enumerate(revs):
        out[f"pad:{pad_id}:revs:{number}"] = {
            "changeset": str(rev.get("changeset") or ""),
            "meta": {"author": "", "timestamp": int(rev.get("timestamp") or 0)},
        }
    return json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True).encode()
