"""Time windows: ``[run] window = "19:00-07:00"`` lets apply write only outside school hours.

A window is local wall-clock time, ``HH:MM-HH:MM``; when the start is after the end the window crosses
midnight (19:00 today to 07:00 tomorrow). The start is inside, the end is not. Everything here is pure:
the caller passes the current time, so tests need no clock and the apply loop decides what "now" is.

How the apply loop uses it: before each batch, ``window.contains(now)``; when it is false, stop
cleanly (like ``max_ops``: nothing in flight, the rest stays planned) and say when the window opens
again (``seconds_until_start``); a run started outside its window waits or exits at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

__all__ = ["Window", "parse_window"]

_PART = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_DAY = 24 * 3600


def _minutes(text: str, where: str) -> int:
    match = _PART.match(text)
    if not match:
        raise ValueError(f"{where}: {text.strip()!r} is not a time of day (write HH:MM, e.g. 19:00)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{where}: {text.strip()!r} is not a time of day (00:00 to 23:59)")
    return hours * 60 + minutes


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A daily window from ``start`` (inside) to ``end`` (outside), in minutes after midnight."""

    start: int
    end: int

    @property
    def crosses_midnight(self) -> bool:
        return self.start > self.end

    def _seconds(self, now: dt.datetime | dt.time) -> float:
        t = now.time() if isinstance(now, dt.datetime) else now
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6

    def contains(self, now: dt.datetime | dt.time) -> bool:
        """Is *now* (local wall-clock time) inside the window?"""
        s, start, end = self._seconds(now), self.start * 60, self.end * 60
        if self.crosses_midnight:
            return s >= start or s < end
        return start <= s < end

    def seconds_until_end(self, now: dt.datetime | dt.time) -> float:
        """Seconds left before the window closes; 0 when *now* is outside it."""
        if not self.contains(now):
            return 0.0
        s, end = self._seconds(now), self.end * 60
        return (end - s) % _DAY or float(_DAY)

    def seconds_until_start(self, now: dt.datetime | dt.time) -> float:
        """Seconds before the window opens; 0 when *now* is inside it."""
        if self.contains(now):
            return 0.0
        return (self.start * 60 - self._seconds(now)) % _DAY

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_window(text: str, where: str = "[run] window") -> Window:
    """``"19:00-07:00"`` → a :class:`Window`; a clear ``ValueError`` naming *where* otherwise."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f'{where}: {text!r} is not a window (write START-END, e.g. "19:00-07:00")')
    first, second = text.split("-")
    start, end = _minutes(first, where), _minutes(second, where)
    if start == end:
        raise ValueError(f"{where}: {text!r} is empty (its start is its end)")
    return Window(start, end)
