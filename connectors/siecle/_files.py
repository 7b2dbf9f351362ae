"""Finding SIECLE / STS files in a folder or zip, by their root element (never by their name).

The location may be a folder, a ``.zip``, or a folder holding ``.zip`` files (exports are often
delivered as ``ExportXML_ElevesSansAdresses.zip`` next to an unzipped ``sts_emp_<UAI>_<year>.xml``).
Every archive goes through :mod:`ent_migrate.archive`, which refuses unsafe members.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import io
import re
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO

from ent_migrate.archive import Archive
from ent_migrate.problems import Problems, Severity
from ent_migrate.xmlsafe import PROLOG_LIMIT, iter_elements

__all__ = ["EXPECTED", "Root", "SourceFile", "discover", "sniff_root"]

# As much as the XML layer sniffs: a root behind a long prolog is still found, and a prolog longer
# than that is refused there (xml.malformed), not mistaken for an unknown file.
_SNIFF_BYTES = PROLOG_LIMIT
# The first start tag after the prolog: skip "<?...", "<!--" and "<!DOCTYPE".
_ROOT_RE = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.-]*)")
_PROLOG_RE = re.compile(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>", re.S)


class Root(StrEnum):
    """Root elements of the files this connector reads."""

    ELEVES = "BEE_ELEVES"
    RESPONSABLES = "BEE_RESPONSABLES"
    NOMENCLATURES = "BEE_NOMENCLATURES"
    STS = "STS_EDT"


#: a root users confuse with STS_EDT: the reverse file (timetable software → STS)
EDT_STS = "EDT_STS"


_PARAMETRES = ("PARAMETRES", "ANNEE_SCOLAIRE", "DATE_EXPORT", "HORODATAGE")
_ADDRESSES = (
    "ADRESSES",
    "ADRESSE",
    "LIGNE1_ADRESSE",
    "LIGNE2_ADRESSE",
    "LIGNE3_ADRESSE",
    "LIGNE4_ADRESSE",
    "CODE_POSTAL",
    "LIBELLE_POSTAL",
    "LL_PAYS",
    "CODE_PAYS",
    "COMMUNE_INSEE",
    "CODE_DEPARTEMENT",
    "LIBELLE_COMMUNE",
)
#: the elements a BEE file holds outside the records read (containers, sections not read): any other
#: one is reported as xml.unexpected-element. STS and nomenclature files hold many sections this reader
#: does not read, so nothing is reported for them (everything is still freed).
EXPECTED: dict[Root, frozenset[str] | None] = {
    Root.ELEVES: frozenset(
        (
            "BEE_ELEVES",
            *_PARAMETRES,
            "DONNEES",
            "ELEVES",
            "STRUCTURES",
            "OPTIONS",
            "OPTION",
            "OPTIONS_ELEVE",
            "NUM_OPTION",
            "CODE_MODALITE_ELECT",
            "CODE_MATIERE",
            *_ADDRESSES,
        )
    ),
    Root.RESPONSABLES: frozenset(
        ("BEE_RESPONSABLES", *_PARAMETRES, "DONNEES", "PERSONNES", "RESPONSABLES", *_ADDRESSES)
    ),
    Root.STS: None,
    Root.NOMENCLATURES: None,
}


@dataclasses.dataclass(frozen=True, slots=True)
class SourceFile:
    """One recognised file: how problems name it, its root, and where it lives.

    ``container`` is the folder or archive holding it and ``member`` its name there; ``member`` is
    empty when ``container`` is the XML file itself. Archive streams only live while their archive
    is open, so each pass re-opens it (:meth:`opened`).
    """

    label: str
    root: Root
    container: Path
    member: str
    #: a folder member's own opener (no link followed, caps enforced), kept from discovery: re-opening
    #: the folder as an archive would walk it again for every file, quadratic in its number of files
    opener: Callable[[], IO[bytes]] | None = dataclasses.field(default=None, compare=False, repr=False)

    @contextlib.contextmanager
    def opened(self) -> Iterator[IO[bytes]]:
        if not self.member:
            with self.container.open("rb") as stream:
                yield stream
            return
        if self.opener is not None:
            with self.opener() as stream:
                yield stream
            return
        # Lenient, with problems dropped: discovery already reported the unsafe members, which are
        # skipped again here instead of failing the whole pass.
        with Archive(self.container, on_problem=_ignore) as archive, archive.member(self.member).open() as stream:
            yield stream


def _ignore(code: str, where: str, detail: str | None = None) -> None:
    """A problem sink for re-opened archives (see :meth:`SourceFile.opened`)."""


def sniff_root(head: bytes) -> str | None:
    """The root element's name from the first bytes of an XML file, or None if none is found."""
    body = head.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    while True:
        while pos < len(body) and body[pos : pos + 1].isspace():
            pos += 1
        prolog = _PROLOG_RE.match(body, pos)
        if prolog is None:
            break
        pos = prolog.end()
    match = _ROOT_RE.match(body, pos)
    return match.group(1).decode("ascii") if match else None


# UTF-16/32 "<" with or without a byte-order mark: the sniffing above reads ASCII bytes only.
_WIDE_STARTS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    b"<\0\0\0",
    b"\0\0\0<",
    b"<\0",
    b"\0<",
)
_NO_SUCH_TAG = "ent-migrate-no-such-tag"  # asks the XML layer to check a prolog without yielding anything


def _prolog_problem(label: str, head: bytes) -> tuple[str, str, str] | None:
    """(code, where, detail) when *head* is meant to be XML but cannot be read as such — a UTF-16/32
    file, an empty one, a refused or endless prolog — worded by the XML layer exactly as for AAF; None
    when it is simply not XML (a stray text file: ``file.unknown``)."""
    wide = head.startswith(_WIDE_STARTS)
    body = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if not wide and not body.startswith(b"<") and not label.lower().endswith(".xml"):
        return None
    if not body:
        return "xml.malformed", f"{label}:1", "empty file"
    scratch = Problems()
    for _element in iter_elements(io.BytesIO(head), label, scratch, {_NO_SUCH_TAG}):
        pass  # nothing matches: only the prolog checks and the parse run
    for problem in scratch:
        if problem.severity is Severity.ERROR:
            return problem.code, problem.examples[0], problem.details[0] if problem.details else ""
    if wide:
        return "encoding.unsupported", f"{label}:1", "UTF-16 or UTF-32 (only ASCII-compatible encodings)"
    return None


def _classify(label: str, head: bytes, report: Callable[[str, str, str | None], None]) -> Root | None:
    root = sniff_root(head)
    if root in {r.value for r in Root}:
        return Root(root)
    if root is None:
        problem = _prolog_problem(label, head)
        if problem is not None:
            report(*problem)
            return None
    if root == EDT_STS:
        report("file.unknown", label, "EDT_STS (timetable → STS) file: export sts_emp_<UAI>_<year>.xml instead")
    else:
        report("file.unknown", label, "not a BEE_ELEVES, BEE_RESPONSABLES, BEE_NOMENCLATURES or STS_EDT file")
    return None


def discover(location: Path, report: Callable[[str, str, str | None], None]) -> list[SourceFile]:
    """Every SIECLE/STS file at *location* (a folder, a zip or one XML file), in a deterministic
    order; other files are reported as ``file.unknown``. Zips inside a folder are opened too (one
    level: an export is never a zip of zips)."""

    def sink(code: str, where: str, detail: str | None = None) -> None:
        report(code, where, detail)

    if location.is_file() and location.suffix.lower() == ".xml":
        with location.open("rb") as whole:
            root = _classify(location.name, whole.read(_SNIFF_BYTES), report)
        return [SourceFile(location.name, root, location, "")] if root else []
    found: list[SourceFile] = []
    prefix = f"{location.name}:" if location.is_file() else ""
    nested: list[str] = []
    with Archive(location, on_problem=sink) as archive:
        for member in archive:
            if location.is_dir() and member.name.lower().endswith(".zip"):
                nested.append(member.name)
                continue
            label = f"{prefix}{member.name}"
            with member.open() as stream:
                root = _classify(label, stream.read(_SNIFF_BYTES), report)
            if root:
                opener = member.open if location.is_dir() else None
                found.append(SourceFile(label, root, location, member.name, opener))
    for name in nested:
        with Archive(location / name, on_problem=sink) as archive:
            for member in archive:
                label = f"{name}:{member.name}"
                with member.open() as stream:
                    root = _classify(label, stream.read(_SNIFF_BYTES), report)
                if root:
                    found.append(SourceFile(label, root, location / name, member.name))
    return found
