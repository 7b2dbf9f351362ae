"""Calendars as iCalendar (RFC 5545), written with the ``icalendar`` library."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import icalendar

__all__ = ["to_icalendar"]


def _moment(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def to_icalendar(title: str, events: Iterable[Mapping[str, Any]], *, stamp: dt.datetime) -> bytes:
    """One VCALENDAR; *stamp* is the DTSTAMP (the export's date, so the bytes are reproducible)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//ent-migrate//edifice-archive//FR")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", title)
    for event in events:
        item = icalendar.Event()
        item.add("uid", str(event["_id"]))
        item.add("dtstamp", stamp)
        item.add("summary", str(event.get("title") or ""))
        item.add("dtstart", _moment(str(event["startMoment"])))
        if event.get("endMoment"):
            item.add("dtend", _moment(str(event["endMoment"])))
        if event.get("location"):
            item.add("location", str(event["location"]))
        cal.add_component(item)
    return bytes(cal.to_ical())
