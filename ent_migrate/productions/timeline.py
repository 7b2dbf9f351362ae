"""Timelines as TimelineJS 3 JSON (``{"title": {...}, "events": [{"start_date": {...}, ...}]}``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ent_migrate.productions.html import sanitize

__all__ = ["to_timelinejs"]


def _date(value: str) -> dict[str, str]:
    """An ISO date (``YYYY[-MM[-DD]]``) as TimelineJS's date object; ValueError if it is not one."""
    parts = value[:10].split("-")
    if not parts[0].lstrip("-").isdigit():
        raise ValueError(f"not an ISO 8601 date: {value[:10]!r}")
    return dict(zip(("year", "month", "day"), (str(int(p)) for p in parts), strict=False))


def to_timelinejs(headline: str, events: Iterable[Mapping[str, Any]]) -> bytes:
    out: dict[str, Any] = {"title": {"text": {"headline": headline}}, "events": []}
    for event in events:
        item: dict[str, Any] = {
            "start_date": _date(str(event["startDate"])),
            "text": {"headline": str(event.get("headline") or ""), "text": sanitize(str(event.get("text") or ""))},
        }
        if event.get("endDate"):
            item["end_date"] = _date(str(event["endDate"]))
        out["events"].append(item)
    return json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True).encode()
