"""AAF value conventions: categories, bundle file names, ``$``-encoded values, dates, kinship codes.

Everything here is pure (no I/O, no problems collector) so the reader and the fixture writer agree
on one definition of each convention.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

__all__ = [
    "CATEGORY_ALIASES",
    "CATEGORY_ORDER",
    "KINSHIP_OLD_TO_NEW",
    "OPERATIONAL_ATTRIBUTES",
    "CompactIds",
    "FileName",
    "file_name",
    "format_date",
    "join_dollar",
    "kinship_code",
    "legal_level",
    "parse_date",
    "parse_file_name",
    "relation_flags",
    "split_dollar",
]

#: Categories in reading order. Structures first (jointure → UAI and the classes they define), then
#: guardians before the pupils that reference them, then staff: every reference points backwards, so
#: dangling links are found in one streaming pass with compact sets of ids.
CATEGORY_ORDER: tuple[str, ...] = (
    "EtabEducNat",
    "MatiereEducNat",
    "MefEducNat",
    "PersRelEleve",
    "Eleve",
    "PersEducNat",
)

#: category → the ``operationalAttributes`` attribute that names it
OPERATIONAL_ATTRIBUTES: dict[str, str] = {
    "EtabEducNat": "categorieStructure",
    "MatiereEducNat": "categorieMatiere",
    "MefEducNat": "categorieMef",
    "PersRelEleve": "categoriePersonne",
    "Eleve": "categoriePersonne",
    "PersEducNat": "categoriePersonne",
}
#: ``categorieMatiere`` says MatEducNat; the file names say MatiereEducNat.
CATEGORY_ALIASES: dict[str, str] = {"MatEducNat": "MatiereEducNat"}

#: Old kinship codes (SIECLE before 2018) → BCN N_LIEN_ELEVE_RESPONSABLE codes, which the model stores.
KINSHIP_OLD_TO_NEW: dict[str, str] = {"1": "20", "2": "10", "3": "50", "4": "39", "5": "51", "6": "90", "7": "70"}

_FILE_RE = re.compile(
    r"^(?P<prefix>.*?)_(?P<kind>Complet|Delta)(?:_(?P<date>\d{8}))?_(?P<category>[A-Za-z]+)_(?P<page>\d{4,})\.xml$"
)


class FileName:
    """What an AAF file name says: full or delta, category, page."""

    __slots__ = ("category", "delta", "name", "page")

    def __init__(self, name: str, category: str, page: int, delta: bool) -> None:
        self.name, self.category, self.page, self.delta = name, category, page, delta

    @property
    def sort_key(self) -> tuple[int, str, int, str]:
        base = self.name.rsplit("/", 1)[-1]
        return (CATEGORY_ORDER.index(self.category), base.rsplit("_", 1)[0], self.page, self.name)


def parse_file_name(name: str) -> FileName | None:
    """Parse ``<prefix>_Complet_<YYYYMMDD>_<Cat>_<NNNN>.xml`` (or ``_Delta_``); None if it is not one."""
    base = name.rsplit("/", 1)[-1]
    match = _FILE_RE.match(base)
    if match is None or match.group("category") not in CATEGORY_ORDER:
        return None
    delta = match.group("kind") == "Delta" or "Delta" in match.group("prefix")
    return FileName(name, match.group("category"), int(match.group("page")), delta)


def file_name(prefix: str, delta: bool, date: str, category: str, page: int) -> str:
    """The name :func:`parse_file_name` reads: ``<prefix>_Complet|Delta_<date>_<category>_<NNNN>.xml``."""
    return f"{prefix}_{'Delta' if delta else 'Complet'}_{date}_{category}_{page:04d}.xml"


def legal_level(resp_legal: str, contact: str) -> int:
    """``legal_level`` from ENTElevePersRelEleve's respLégal and contact fields: 1 or 2 when legally
    responsible, else 3 for a contact, else 0."""
    resp_legal = resp_legal.strip()
    return int(resp_legal) if resp_legal in ("1", "2") else (3 if contact.strip() == "1" else 0)


def relation_flags(level: int | None) -> tuple[str, str]:
    """(respLégal, contact) that :func:`legal_level` reads back as *level* (None is 0)."""
    level = level or 0
    return (str(level), "0") if level in (1, 2) else ("0", "1" if level == 3 else "0")


def split_dollar(value: str, prefix: str = "") -> list[str]:
    """Split a ``$``-encoded value. A leading académie prefix that itself contains ``$``
    (``AC-RENNES$43$6A``) is kept on the first field instead of splitting it."""
    if prefix and value.startswith(prefix):
        rest = value[len(prefix) :].split("$")
        return [prefix + rest[0], *rest[1:]]
    return value.split("$")


def join_dollar(parts: Iterable[str | None]) -> str:
    return "$".join(p or "" for p in parts)


def parse_date(text: str) -> dt.date:
    """``dd/mm/yyyy`` → date; ``ValueError`` on anything else (including ISO dates)."""
    if len(text) != 10 or text[2] != "/" or text[5] != "/" or not (text[:2] + text[3:5] + text[6:]).isdigit():
        raise ValueError("not dd/mm/yyyy")
    return dt.date(int(text[6:]), int(text[3:5]), int(text[:2]))  # strptime is 20x slower


def format_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def kinship_code(code: str) -> str | None:
    """The BCN code for an AAF kinship field: old one-digit codes are translated, new ones kept."""
    code = code.strip()
    if not code:
        return None
    return KINSHIP_OLD_TO_NEW.get(code, code)


class CompactIds:
    """A set of identifiers stored as 64-bit hashes (about 60 bytes an id instead of 120+ for the
    strings), enough to check a million references after a streaming pass. A false positive needs a
    64-bit collision between two ids of one bundle.

    The hash is Python's own (64-bit SipHash, keyed per process, cached on the string): a set lives
    for one pass of one process, so it needs no stable digest, and blake2b cost 2 µs an id."""

    __slots__ = ("_hashes",)

    def __init__(self) -> None:
        self._hashes: set[int] = set()

    @staticmethod
    def hash(value: str) -> int:
        return hash(value)

    def add(self, value: str) -> None:
        self._hashes.add(self.hash(value))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.hash(value) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)
