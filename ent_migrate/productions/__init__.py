"""Productions (pads, blogs, wikis, mind maps, timelines, walls, calendars, contacts) in reusable open
formats: one small module per format, each a pure function from the application's data to bytes."""

from __future__ import annotations

__all__: list[str] = []
