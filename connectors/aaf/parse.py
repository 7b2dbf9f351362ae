"""From the bytes of one AAF file to :class:`Entry` objects (one per add/modify/delete request).

The XML is read by :mod:`ent_migrate.xmlsafe` (no entity expansion, flat memory); this module only
knows the ``ficAlimMENESR`` shape described in FORMATS.md §3 and the DTD.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import IO

from lxml import etree

from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import iter_elements, text_of, where

__all__ = ["OPERATIONS", "Entry", "iter_entries"]

#: request element → operation name
OPERATIONS = {"addRequest": "add", "modifyRequest": "modify", "deleteRequest": "delete"}
_CATEGORY_ATTRS = ("categoriePersonne", "categorieStructure", "categorieMatiere", "categorieMef")
#: ``categorieMatiere`` says MatEducNat; the file names say MatiereEducNat.
_CATEGORY_ALIASES = {"MatEducNat": "MatiereEducNat"}


@dataclasses.dataclass(slots=True)
class Entry:
    """One request. ``attrs`` maps attribute name → its full value list (empty values dropped).

    For a modifyRequest, ``attrs`` holds the replaced attributes only (operation="replace": each is
    the attribute's full new value set)."""

    op: str
    category: str
    ident: str
    attrs: dict[str, list[str]]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def first(self, *names: str) -> str:
        """The first non-empty value of the first of *names* that has one ("" if none)."""
        for name in names:
            values = self.attrs.get(name)
            if values:
                return values[0]
        return ""

    def values(self, *names: str) -> list[str]:
        """All non-empty values of the first of *names* that is present with values."""
        for name in names:
            values = self.attrs.get(name)
            if values:
                return values
        return []


def _values(attr: etree._Element) -> list[str]:
    # Runs for every attribute of every request: the tag filter runs in lxml, and text_of (itertext)
    # is only needed for the odd value that holds child elements.
    out = []
    for value in attr.iterchildren("value"):
        text = value.text if len(value) == 0 else text_of(value)
        if text:
            out.append(text)
    return out


def _entry(element: etree._Element, name: str, problems: Problems) -> Entry | None:
    op = OPERATIONS[str(element.tag)]
    line = element.sourceline if isinstance(element.sourceline, int) else 0
    category = ident = ""
    attrs: dict[str, list[str]] = {}
    for part in element.iterchildren("attributes", "modifications", "operationalAttributes", "identifier"):
        tag = part.tag
        if tag == "attributes" or tag == "modifications":  # a modification's values replace the attribute's
            for attr in part:
                attr_name = attr.get("name")
                if attr_name:
                    attrs[attr_name] = _values(attr)
        elif tag == "operationalAttributes":
            for attr in part:
                if attr.get("name") in _CATEGORY_ATTRS:
                    found = _values(attr)
                    category = found[0] if found else ""
        else:
            ident = text_of(part.find("id")).strip()
    category = _CATEGORY_ALIASES.get(category, category)
    if not category:
        problems.add("record.missing-field", where(name, line=line), "operationalAttributes category")
        return None
    return Entry(op, category, ident, attrs, name, line)


def iter_entries(stream: IO[bytes], name: str, problems: Problems) -> Iterator[Entry]:
    """Every request of one AAF file, in file order. Problems name ``name:line``."""
    for element in iter_elements(stream, name, problems, tags=set(OPERATIONS)):
        entry = _entry(element, name, problems)
        if entry is not None:
            yield entry
