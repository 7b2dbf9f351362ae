"""R12: iCalendar and vCard files parsed by the well-kept libraries, item by item.

``icalendar`` reads each VCALENDAR (several in one file too) and keeps, per component, the
properties it could not parse (``component.errors``: a DTSTART that is no date...); ``vobject``
reads the vCards one after another (without ``ignoreUnreadable``, which logs the skipped line) and
validates each.
An item is *unreadable* when its library cannot parse it or it lacks what the RFC requires (an
event's UID, a card's FN). A file that cannot be parsed at all counts as one unreadable item: its
items cannot be told apart. Messages are never kept: a parser's message quotes the line, which may
hold a name.
"""

from __future__ import annotations

import dataclasses

import icalendar
import vobject  # type: ignore[import-untyped]  # vobject ships no type hints and has no stubs package

__all__ = ["CALENDAR_FORMATS", "ItemCount", "read_calendar_file"]

#: media type → which reader
CALENDAR_FORMATS = {"text/calendar": "icalendar", "text/vcard": "vcard", "text/x-vcard": "vcard"}
#: iCalendar components that are items (a VTIMEZONE or a VALARM is part of one, not an item)
_ITEMS = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"})
_REQUIRED = {"VEVENT": ("UID", "DTSTAMP"), "VTODO": ("UID", "DTSTAMP"), "VJOURNAL": ("UID", "DTSTAMP")}


@dataclasses.dataclass(frozen=True, slots=True)
class ItemCount:
    items: int  # events, to-dos, journal entries, cards read
    unreadable: int  # items that could not be parsed or miss a required property


def _icalendar(text: str) -> ItemCount:
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except ValueError:
        return ItemCount(0, 1)
    if not calendars or any(cal.name != "VCALENDAR" for cal in calendars):
        return ItemCount(0, 1)  # a vCard or a bare VEVENT served as text/calendar
    items = unreadable = 0
    for cal in calendars:
        for component in cal.walk():
            if component.name not in _ITEMS:
                continue
            items += 1
            missing = [p for p in _REQUIRED.get(component.name, ()) if p not in component]
            if component.errors or missing:
                unreadable += 1
    return ItemCount(items, unreadable)


def _vcard(text: str) -> ItemCount:
    items = unreadable = 0
    try:
        for card in vobject.readComponents(text, validate=False):
            items += 1
            if card.name != "VCARD" or "fn" not in card.contents:
                unreadable += 1
                continue
            try:
                card.validate()
            except vobject.base.ValidateError:
                unreadable += 1
    except (vobject.base.ParseError, ValueError):
        # from here on the cards cannot be delimited: one unreadable item for the rest of the file
        return ItemCount(items + 1, unreadable + 1)
    return ItemCount(items, unreadable) if items else ItemCount(0, 1)


def read_calendar_file(data: bytes, media_type: str) -> ItemCount:
    """Count the items of one iCalendar or vCard file and the unreadable ones (RFC 5545 / 6350: UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ItemCount(0, 1)
    return _vcard(text) if CALENDAR_FORMATS.get(media_type) == "vcard" else _icalendar(text)
