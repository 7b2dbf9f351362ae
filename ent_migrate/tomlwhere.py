"""Where a key is set in a TOML file, for error messages: ``file:line``.

tomllib gives values without positions; every file ent-migrate reads (mappings, clause files, the
promotion config) must still name the line of a bad value, so the line is found again in the text.
"""

from __future__ import annotations

import re

__all__ = ["line_of", "where"]

_HEADER = re.compile(r"\[\s*([^\]]+?)\s*\]")


def line_of(text: str, section: str, key: str | None) -> int | None:
    """The line where *key* is set in *section* (or where the section starts when *key* is None)."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = _HEADER.fullmatch(stripped)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        if current == section and key is not None and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def where(name: str, text: str, section: str, key: str | None = None) -> str:
    """``name:line`` of *key* in *section*, or *name* alone when the line cannot be found."""
    line = line_of(text, section, key)
    return f"{name}:{line}" if line else name
