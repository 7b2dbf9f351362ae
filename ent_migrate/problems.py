"""Problems found in input: a stable vocabulary of codes (documented in docs/problems.md), counted,
with a few ``file:line`` examples each.

Readers never raise for a bad record: they report a problem here, keep every readable record, and go
on. Examples name places (file and line, or a record's position), never personal data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

__all__ = ["MAX_LISTED", "PROBLEM_CODES", "Occurrence", "Problem", "Problems", "Severity"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: code → (default severity, one-line meaning). docs/problems.md is the long form; a test checks
#: that both list the same codes.
PROBLEM_CODES: dict[str, tuple[Severity, str]] = {
    "xml.malformed": (Severity.ERROR, "the XML is not well-formed; records before the fault are kept"),
    "xml.dtd-forbidden": (Severity.ERROR, "a DOCTYPE with an internal subset or entity declarations"),
    "xml.entity-undefined": (Severity.WARNING, "an entity neither XML nor HTML defines, kept as literal text"),
    "xml.unexpected-element": (Severity.WARNING, "elements no reader asks for, outside the records: counted, ignored"),
    "record.too-large": (Severity.ERROR, "a record over the size cap (max_record_bytes): skipped, never built"),
    "encoding.mixed": (Severity.WARNING, "UTF-8 text in a file declared single-byte: read as declared, flagged"),
    "encoding.unsupported": (Severity.ERROR, "an unknown encoding, or bytes that do not match it"),
    "archive.unsafe-member": (Severity.ERROR, "an archive member with .., an absolute path, a link, or over a cap"),
    "record.missing-field": (Severity.ERROR, "a required field is missing or empty"),
    "record.invalid": (Severity.ERROR, "a record that cannot be understood at all"),
    "record.incomplete": (Severity.WARNING, "a field the source should carry is missing; the record is kept"),
    "date.invalid": (Severity.ERROR, "a date not in the format the file uses"),
    "ine.missing": (Severity.WARNING, "a pupil without INE"),
    "ine.duplicate": (Severity.ERROR, "two pupils with the same INE"),
    "uai.missing": (Severity.ERROR, "a structure or attachment without UAI"),
    "uai.mismatch": (Severity.ERROR, "the file's UAI is not the expected one"),
    "uai.invalid": (Severity.ERROR, "a UAI that is not 7 digits and a letter, or whose check letter is wrong"),
    "ref.dangling": (Severity.ERROR, "a link to a record the source does not hold"),
    "ref.outside-export": (Severity.WARNING, "a staff member's link to a structure outside the export"),
    "person.duplicate": (Severity.WARNING, "one person in two files with different values: the first is kept"),
    "guardian.orphan": (Severity.WARNING, "a guardian no pupil links to"),
    "link.unresolved": (Severity.ERROR, "a name-based link that matches nobody"),
    "link.ambiguous": (Severity.ERROR, "a name-based link that matches several people"),
    "pupil.left": (Severity.WARNING, "a pupil who has left (DATE_SORTIE), not migrated as active"),
    "pupil.not-arrived": (Severity.WARNING, "a pupil not yet arrived (no ID_NATIONAL)"),
    "pupil.inactive": (Severity.WARNING, "a pupil in the pseudo-division Inactifs"),
    "pupil.no-class": (Severity.WARNING, "a pupil in a group but in no class"),
    "delete.not-applied": (Severity.WARNING, "a deleteRequest: never applied by a full read, offered as a change"),
    "file.unknown": (Severity.WARNING, "a file the source does not recognise, ignored"),
    "mail.malformed": (Severity.ERROR, "a mail file or folder name that cannot be parsed; the rest is read"),
    "mail.folder-clash": (Severity.ERROR, "two folders with one name or one special-use role; the second is not read"),
    "mail.flag-refused": (Severity.WARNING, "a flag or keyword the target did not keep"),
    "mail.internaldate-ignored": (Severity.WARNING, "the target did not keep a message's internal date"),
    "source.unreadable": (Severity.ERROR, "the source stopped being readable; what came after was not read"),
    "source.empty": (Severity.ERROR, "the source yielded no person at all"),
    "promotion.review": (Severity.WARNING, "a CM2 pupil with an ambiguous match (twins, homonyms): never promoted"),
    "promotion.pupil-gone": (Severity.WARNING, "a detected CM2 pupil no longer in the primary source"),
    "promotion.notice-late": (Severity.WARNING, "a family notified after the promotion date"),
    "promotion.delete-by-hand": (Severity.WARNING, "a primary account due for deletion that the source cannot delete"),
    "promotion.verify-failed": (Severity.ERROR, "files imported to the collège ENT whose SHA-256 differs"),
    "promotion.export-failed": (Severity.ERROR, "a pupil's work could not be read from the primary side"),
    "promotion.import-failed": (Severity.ERROR, "the collège ENT refused or did not answer a pupil's import"),
    "promotion.guardian-not-found": (
        Severity.WARNING,
        "a pupil's guardian not found (or not surely) on the collège side: not linked, never created",
    ),
    "promotion.guardian-by-hand": (Severity.WARNING, "guardians found but the collège ENT cannot take the links"),
}

_MAX_EXAMPLES = 5
#: occurrences kept per code to be listed in the reports (beyond: counted only, and the report says so)
MAX_LISTED = 100_000


@dataclasses.dataclass(frozen=True, slots=True)
class Occurrence:
    """One problem at one place (``file:line`` or a record's position; never personal data)."""

    code: str
    severity: Severity
    where: str
    detail: str | None = None


@dataclasses.dataclass
class Problem:
    code: str
    severity: Severity
    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)
    details: list[str] = dataclasses.field(default_factory=list)  # e.g. which field
    #: every occurrence (where, detail), up to MAX_LISTED: what could not be read is listed, not sampled
    occurrences: list[tuple[str, str | None]] = dataclasses.field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": str(self.severity),
            "count": self.count,
            "examples": list(self.examples),
        }
        if self.details:
            out["details"] = list(self.details)
        return out


class Problems:
    """A collector: ``problems.add("ine.missing", "Eleve_0000.xml:120")``."""

    def __init__(self) -> None:
        self._by_code: dict[str, Problem] = {}

    def add(self, code: str, where: str, detail: str | None = None, severity: Severity | None = None) -> None:
        if code not in PROBLEM_CODES:
            raise ValueError(f"unknown problem code {code!r}: add it to PROBLEM_CODES and docs/problems.md")
        problem = self._by_code.get(code)
        if problem is None:
            problem = self._by_code[code] = Problem(code, severity or PROBLEM_CODES[code][0])
        problem.count += 1
        if len(problem.occurrences) < MAX_LISTED:
            problem.occurrences.append((where, detail))
        if len(problem.examples) < _MAX_EXAMPLES:
            problem.examples.append(where)
        if detail and detail not in problem.details and len(problem.details) < _MAX_EXAMPLES * 4:
            problem.details.append(detail)

    def replace(self, other: Problems) -> None:
        """Hold what *other* holds, in place (whoever holds this collector sees it): the problems a
        child process read into its copy of this one (pipeline/extract.py)."""
        self._by_code = dict(other._by_code)

    def __iter__(self) -> Iterator[Problem]:
        return iter(sorted(self._by_code.values(), key=lambda p: p.code))

    def __len__(self) -> int:
        return len(self._by_code)

    def count(self, code: str) -> int:
        problem = self._by_code.get(code)
        return problem.count if problem else 0

    @property
    def has_errors(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self._by_code.values())

    def to_list(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self]

    def occurrences(self) -> Iterator[Occurrence]:
        """Every listed occurrence, code by code."""
        for problem in self:
            for where, detail in problem.occurrences:
                yield Occurrence(problem.code, problem.severity, where, detail)

    @property
    def errors(self) -> int:
        """How many error-level occurrences."""
        return sum(p.count for p in self._by_code.values() if p.severity is Severity.ERROR)
