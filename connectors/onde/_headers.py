"""Recognising ONDE / BE1D extraction files by their header line, not their name.

Each table maps a normalised header cell (see :func:`norm_header`) to the field name the reader
uses. ONDE and the older BE1D exports name some columns differently ("Libellé classe" vs "Classe",
"Nom élève" vs "Nom de famille élève"); both spellings are listed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum

from ent_migrate.connectors.onde._text import norm_header

__all__ = ["CHILD_FIELDS", "FileKind", "Layout", "classify"]


class FileKind(StrEnum):
    PUPILS = "pupils"
    GUARDIANS = "guardians"
    TEACHERS = "teachers"


def _table(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {norm_header(alias): field for field, aliases in pairs.items() for alias in aliases}


_PUPILS = _table(
    {
        "last_name": ("Nom élève", "Nom de famille élève", "Nom"),
        "usage_name": ("Nom d'usage élève",),
        "first_name": ("Prénom élève", "Prénom"),
        "birth_date": ("Date naissance", "Date de naissance"),
        "sex": ("Sexe",),
        "ine": ("INE", "Identifiant national élève"),
        "cycle": ("Cycle",),
        "level": ("Niveau",),
        "class_name": ("Libellé classe", "Classe"),
        "class_id": ("Identifiant classe",),
    }
)
_GUARDIANS = _table(
    {
        "civility": ("Civilité Responsable",),
        "usage_name": ("Nom usage responsable", "Nom d'usage responsable"),
        "last_name": ("Nom responsable", "Nom de famille responsable"),
        "first_name": ("Prénom responsable",),
        "address": ("Adresse responsable",),
        "postcode": ("CP responsable",),
        "email": ("Courriel",),
    }
)
#: the repeated per-child group of the guardian export, in the order the export writes it
CHILD_FIELDS = ("child_usage_name", "child_last_name", "child_first_name", "child_class")
_CHILDREN = _table(
    {
        "child_usage_name": ("Nom d'usage enfant",),
        "child_last_name": ("Nom de famille enfant",),
        "child_first_name": ("Prénom enfant",),
        "child_class": ("Classes enfants", "Classe enfant"),
    }
)
_TEACHERS = _table(
    {
        "civility": ("Civilité",),
        "usage_name": ("Nom usage", "Nom d'usage"),
        "last_name": ("Nom",),
        "first_name": ("Prénom",),
        "email": ("Courriel",),
        "director": ("Directeur",),
        "class_name": ("Classe",),
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    """Which column holds which field in one file."""

    kind: FileKind
    columns: dict[str, int]
    children: tuple[dict[str, int], ...] = ()  # guardian files: one column map per child group

    def get(self, cells: Sequence[str], field: str) -> str:
        index = self.columns.get(field)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()


def _columns(header: Sequence[str], table: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        field = table.get(norm_header(cell))
        if field is not None and field not in found:
            found[field] = index
    return found


def classify(header: Sequence[str]) -> Layout | None:
    """The layout of a file from its header line, or None when it is no ONDE extraction we know."""
    names = {norm_header(cell) for cell in header}
    if norm_header("Prénom enfant") in names and norm_header("Nom responsable") in names:
        children: list[dict[str, int]] = []
        for index, cell in enumerate(header):
            field = _CHILDREN.get(norm_header(cell))
            if field is None:
                continue
            if not children or field in children[-1]:
                children.append({})
            children[-1][field] = index
        return Layout(FileKind.GUARDIANS, _columns(header, _GUARDIANS), tuple(children))
    if norm_header("Prénom élève") in names:
        return Layout(FileKind.PUPILS, _columns(header, _PUPILS))
    if norm_header("Directeur") in names and norm_header("Prénom") in names:
        return Layout(FileKind.TEACHERS, _columns(header, _TEACHERS))
    return None
