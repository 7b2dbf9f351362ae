"""The siecle reader's compact index (what one pass over the export learns) and the helpers that copy
what it needs out of each element before the XML layer frees it."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterator
from typing import Any, cast

from lxml import etree

from ent_migrate.model import GroupKind
from ent_migrate.xmlsafe import Spool, text_of, where

__all__ = [
    "Index",
    "Place",
    "Status",
    "Texts",
    "birth_name",
    "child_text",
    "guardian_row",
    "named",
    "place_of",
    "staff_row",
    "structure_codes",
    "texts",
]

#: child tag → its stripped text (see :func:`texts`)
Texts = dict[object, str]

# Pupil status in the index: None = migrated; otherwise the problem code that excluded it.
Status = str | None

#: a place (``file:line``) kept compactly as one int: the file's number in :attr:`Index.labels` above
#: :data:`LINE_BITS` bits of line. A "file:line" string is ~90 bytes, this int ~32, and the index keeps
#: one per pupil and guardian until every status is known (issue 15: peak RSS at 1M accounts).
Place = int
LINE_BITS = 32
_LINE_MASK = (1 << LINE_BITS) - 1


def place_of(base: Place, element: etree._Element) -> Place:
    """The place of *element* in the file whose :meth:`Index.base` is *base*."""
    line: int | None = element.sourceline  # type: ignore[assignment]  # lxml-stubs: int | ellipsis
    return base | (line or 0)


@dataclasses.dataclass
class Index:
    """What one pass over every file learns, kept compact: ids → short codes only."""

    uai: str = ""
    #: the label of each file read, numbered in the order first met (see :data:`Place`)
    labels: list[str] = dataclasses.field(default_factory=list)
    pupils: dict[str, Status] = dataclasses.field(default_factory=dict)
    # ELEVE_ID → ((CODE_STRUCTURE, TYPE_STRUCTURE), ...) as BEE_ELEVES lists them
    structures: dict[str, tuple[tuple[str, str], ...]] = dataclasses.field(default_factory=dict)
    persons: dict[str, Place] = dataclasses.field(default_factory=dict)  # PERSONNE_ID → place, declared ones
    places: dict[str, Place] = dataclasses.field(default_factory=dict)  # ELEVE_ID → place, migrated pupils
    guardians: set[str] = dataclasses.field(default_factory=set)  # PERSONNE_IDs linked to a migrated pupil
    staff: dict[str, Place] = dataclasses.field(default_factory=dict)  # STS INDIVIDU id → place
    # PERSONNE_IDs and INDIVIDU ids refused (missing names, id clash; reported once): links to them are dropped
    unnamed: set[str] = dataclasses.field(default_factory=set)
    # STS divisions and groups: CODE → (kind, label, level)
    defined: dict[str, tuple[GroupKind, str, str | None]] = dataclasses.field(default_factory=dict)
    has_eleves: bool = False
    has_sts: bool = False
    #: no UAI could be known because reading stopped early (refused or malformed files): the readers
    #: yield nothing, and the problems say why
    unreadable: bool = False
    # What the readers need of each element, in file order (first occurrence of each id):
    # pupils (ELEVE_ID, place (a Place), family, usage, PRENOM, DATE_NAISS, PRENOM2, PRENOM3, ID_NATIONAL, CODE_SEXE
    # or None when the element is absent)
    pupil_rows: Spool = dataclasses.field(default_factory=Spool)
    # guardians (PERSONNE_ID, family, NOM_USAGE, PRENOM, MEL, LC_CIVILITE)
    guardian_rows: Spool = dataclasses.field(default_factory=Spool)
    # staff (ID, place, NOM_PATRONYMIQUE, NOM_USAGE, PRENOM, FONCTION codes, DISCIPLINE codes,
    # DATE_NAISSANCE, CIVILITE)
    staff_rows: Spool = dataclasses.field(default_factory=Spool)
    # teachers' services (ENSEIGNANT ID, its place, DIVISION/GROUPE CODE, CODE_MATIERE)
    service_rows: Spool = dataclasses.field(default_factory=Spool)
    # RESPONSABLE_ELEVE (ELEVE_ID, PERSONNE_ID, legal level, kinship), the last two decoded
    link_rows: Spool = dataclasses.field(default_factory=Spool)

    def base(self, label: str) -> Place:
        """The place of line 0 of file *label* (numbered here if new): add an element's line to it."""
        self.labels.append(label)
        return (len(self.labels) - 1) << LINE_BITS

    def where(self, place: Place) -> str:
        """``file:line`` of a compact place, as :func:`~ent_migrate.xmlsafe.where` writes it. A negative
        place is the complement (``~``) of one: how :attr:`persons` marks a linked guardian."""
        if place < 0:
            place = ~place
        return where(self.labels[place >> LINE_BITS], line=place & _LINE_MASK or None)

    def close(self) -> None:
        for spool in (self.pupil_rows, self.guardian_rows, self.staff_rows, self.service_rows, self.link_rows):
            spool.close()


#: ``element[::-1]`` in one C call (lxml-stubs lack slicing; a cast per call would cost a Python call)
_backwards = cast(Callable[[etree._Element], list[etree._Element]], operator.itemgetter(slice(None, None, -1)))


def texts(element: etree._Element) -> Texts:
    """Each child tag → the stripped text of its first child of that tag: one walk over the children
    instead of one ``find`` (a path search) per field read. The walk runs backwards, so the first child
    of a tag is the one kept, over a slice (lxml builds the list in C: a fifth faster than iterating
    the element)."""
    found: Texts = {}
    for child in _backwards(element):
        text = child.text if not len(child) else text_of(child)
        found[child.tag] = text.strip() if text else ""
    return found


def child_text(element: etree._Element, tag: str) -> str:
    return text_of(element.find(tag)).strip()


def structure_codes(element: etree._Element) -> Iterator[tuple[str, str]]:
    """(CODE_STRUCTURE, TYPE_STRUCTURE) of each STRUCTURE of a STRUCTURES_ELEVE that has a code."""
    for structure in element.iter("STRUCTURE"):
        children = texts(structure)
        code = children.get("CODE_STRUCTURE", "")
        if code:
            yield code, children.get("TYPE_STRUCTURE", "").upper()


def named(children: Texts, *last_name_tags: str) -> bool:
    """Whether a person element has a last name (any of the tags) and a PRENOM."""
    return any(children.get(tag) for tag in last_name_tags) and bool(children.get("PRENOM"))


def birth_name(family: str, usage: str) -> str | None:
    """The birth name, kept when a usage name (the name in use, ``last_name``) differs from it."""
    return family if usage and family and family != usage else None


def staff_row(element: etree._Element, children: Texts, individu_id: str, place: str) -> tuple[Any, ...]:
    codes = [text_of(f).strip() for f in element.iter("FONCTION") if text_of(f).strip()]
    disciplines = [d.get("CODE", "").strip() for d in element.iter("DISCIPLINE") if d.get("CODE", "").strip()]
    return (
        individu_id,
        place,
        children.get("NOM_PATRONYMIQUE", ""),
        children.get("NOM_USAGE", ""),
        children.get("PRENOM", ""),
        tuple(codes),
        tuple(disciplines),
        children.get("DATE_NAISSANCE", ""),
        children.get("CIVILITE", ""),
    )


def guardian_row(children: Texts, personne_id: str) -> tuple[str, ...]:
    return (
        personne_id,
        children.get("NOM_DE_FAMILLE", "") or children.get("NOM", ""),
        children.get("NOM_USAGE", ""),
        children.get("PRENOM", ""),
        children.get("MEL", ""),
        children.get("LC_CIVILITE", ""),
    )
