"""TOML files as ent-migrate reads them: parsed with the file named in every error, and where a key
is set in one, for error messages: ``file:line``.

tomllib gives values without positions; every file ent-migrate reads (mappings, clause files, the
promotion config) must still name the line of a bad value, so the line is found again in the text.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from ent_migrate.errors import ConfigError

__all__ = ["line_of", "parse_toml", "where"]

_HEADER = re.compile(r"\[\s*([^\]]+?)\s*\]")


def parse_toml(raw: bytes, name: str) -> tuple[str, dict[str, Any]]:
    """The text and the tables of a TOML file's bytes; a ConfigError naming *name* if it is not UTF-8
    or not TOML (tomllib's message carries the line and column)."""
    try:
        text = raw.decode("utf-8")
        return text, tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: {exc}") from None


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
