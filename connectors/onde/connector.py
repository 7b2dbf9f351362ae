"""The ``onde`` connector: ONDE / BE1D CSV extractions of one primary school (source only).

Location: ``onde:/path/to/folder`` (every ``*.csv`` in it) or ``onde:/path/to/file.csv``. Each file
is recognised by its header line (pupils, guardians or teachers), not by its name; a CSV that is
none of them is reported as ``file.unknown`` and ignored.

Options: :class:`OndeOptions` — ``uai`` (required: the school's UAI, which ONDE files do not carry;
``expect_uai``, as ``inspect --expect-uai`` passes it, is accepted too; both are checked, check letter
included), ``id_prefix`` (prepended to every person id), ``encoding`` (force the files' encoding instead
of detecting it), ``name`` (the Structure's name).

Identity rule (stable across reads of the same export, independent of line order):

* pupil: its INE when present, otherwise ``onde:<uai>:<h>`` with
  ``h = sha256("pupil|<last>|<first>|<birth yyyy-mm-dd>")[:16]``;
* guardian: ``onde:<uai>:<h>`` with ``h = sha256("guardian|<last>|<first>|<address>|<postcode>")[:16]``
  — the address separates homonyms; rows with the same key are one person (one row per child);
* teacher: ``onde:<uai>:<h>`` with ``h = sha256("teacher|<last>|<first>")[:16]`` — one row per
  class, same person;

where every part is normalised (NFC, case, accents, apostrophes, hyphens and spaces folded: see
:func:`norm_name`) and ``<last>`` is the family name (the usage name when the family name is empty).
Group codes are the ``Identifiant classe`` when the export has it, otherwise the class label.

Guardians are linked to pupils by normalised (family or usage name, first name, class) only: no
match is ``link.unresolved``, several matches ``link.ambiguous`` — never a guess. A pupil with no
class ("non répartis") has no membership and is found by an empty child class.

Problems (counted, with ``file:line``): what happens to the record for each is the table in
:mod:`._outcomes` (docs/problems.md repeats it; the reader refuses to report a case it has no row for).
Line ends may be CRLF, LF or bare CR, mixed; a line over 1 MiB, a cell over 131,072 characters or a
quote left open is ``record.invalid`` on its line, and the rest of the file is read (see
:mod:`._text`). Each file is streamed line by line; only compact indexes (ids, normalised link keys)
are kept.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ent_migrate.connectors.onde._headers import CHILD_FIELDS, FileKind, Layout, classify
from ent_migrate.connectors.onde._outcomes import OUTCOMES
from ent_migrate.connectors.onde._text import BadLine, CsvRow, iter_rows, norm_name
from ent_migrate.contract import Capability, Connector, ConnectorOptions, Role
from ent_migrate.errors import ConfigError, InputError
from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    Profile,
    Structure,
)
from ent_migrate.options import option
from ent_migrate.uai import check_uai

__all__ = [
    "CIVILITIES",
    "DIRECTOR_YES",
    "LEVEL_ORDER",
    "SEX_CIVILITIES",
    "OndeConnector",
    "OndeOptions",
    "derived_id",
    "level_rank",
    "teacher_functions",
]

#: primary levels from the youngest; a class's level is the lowest level among its pupils
LEVEL_ORDER = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2")
_FR_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def derived_id(uai: str, role: str, *parts: str) -> str:
    """The stable id of a person ONDE gives no id to (see the module docstring)."""
    text = "|".join([role, *(norm_name(p) for p in parts)])
    return f"onde:{uai}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def level_rank(level: str) -> tuple[int, str]:
    """Sort key of a level: known levels in school order, unknown ones after them."""
    folded = level.upper()
    return (LEVEL_ORDER.index(folded), "") if folded in LEVEL_ORDER else (len(LEVEL_ORDER), level)


#: "Civilité" cells (normalised, without the final dot) → civility
CIVILITIES = {
    "m": "M.",
    "mr": "M.",
    "monsieur": "M.",
    "mme": "Mme",
    "madame": "Mme",
    "mlle": "Mme",
    "mademoiselle": "Mme",
}
#: pupils' "Sexe" cells (normalised) → civility
SEX_CIVILITIES = {"m": "M.", "f": "Mme", "h": "M."}
#: "Directeur" cells (normalised) that mean yes
DIRECTOR_YES = ("oui", "o", "yes", "1", "x")


def _civility(text: str) -> str | None:
    return CIVILITIES.get(norm_name(text).rstrip("."))


def teacher_functions(director: bool, has_class: bool) -> list[str]:
    """The functions of a teacher row: DIR for a director, ENS for one with a class or who is no director."""
    codes = ["DIR"] if director else []
    if has_class or not director:
        codes.append("ENS")
    return codes


#: why iter_rows could not read a line → (code, detail)
_BAD_LINES = {
    "encoding": ("encoding.unsupported", "bytes not in the file's encoding"),
    "line-size": ("record.invalid", "a line over the size cap"),
    "cell-size": ("record.invalid", "a cell over the size cap"),
    "csv": ("record.invalid", "not a CSV record"),
    "quote": ("record.invalid", "a quote left open"),
}


def _normalised_uai(name: str, value: str) -> str:
    uai = value.strip().upper()
    reason = check_uai(uai) if uai else None
    if reason:
        raise ValueError(f"option {name} {value!r} is not a UAI: {reason}")
    return uai


@dataclasses.dataclass(frozen=True, slots=True)
class OndeOptions(ConnectorOptions):
    uai: str = option("", "required: the school's UAI (ONDE files do not carry it)")
    expect_uai: str = option("", "the same UAI, as inspect --expect-uai passes it (may replace uai)")
    id_prefix: str = option("", "prepended to every person id (e.g. an académie code)")
    encoding: str | None = option(None, "force the files' encoding (a Python codec name) instead of detecting it")
    name: str = option("", "the school's name for the Structure record (ONDE files do not carry it)")

    def __post_init__(self) -> None:
        uai = _normalised_uai("uai", self.uai)
        expected = _normalised_uai("expect_uai", self.expect_uai)
        if uai and expected and expected != uai:
            raise ValueError(f"options uai ({uai}) and expect_uai ({expected}) name two different schools")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"option encoding: unknown encoding {self.encoding!r}") from None
        # frozen: normalise once, here; ``inspect --expect-uai`` passes only expect_uai
        object.__setattr__(self, "uai", uai or expected)
        object.__setattr__(self, "expect_uai", expected)


@dataclasses.dataclass(frozen=True, slots=True)
class _Pupil:
    where: str
    person: Person
    class_code: str | None
    keys: tuple[tuple[str, str, str], ...]  # normalised (name, first name, class) link keys


@dataclasses.dataclass(frozen=True, slots=True)
class _Child:
    where: str
    position: int  # 1-based rank of the child group on its line, to tell problems apart
    names: tuple[str, ...]  # normalised family and usage names (non-empty ones)
    first_name: str
    class_label: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Guardian:
    where: str
    person: Person
    children: tuple[_Child, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _Teacher:
    where: str
    person: Person
    director: bool
    class_label: str


class OndeConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "onde"
    summary: ClassVar[str] = "ONDE / BE1D CSV extractions of a primary school (pupils, guardians, teachers)."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    )
    location_help: ClassVar[str] = "onde:FOLDER or onde:FILE.csv (option uai= is required)"
    fixture_writer: ClassVar[tuple[str, str] | None] = ("ent_migrate.connectors.onde.writer:write_onde", "batches")

    Options: ClassVar[type[ConnectorOptions]] = OndeOptions

    options: OndeOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not self.options.uai:
            raise ConfigError(
                "the onde connector needs the school's UAI (ONDE files do not carry it): set option uai "
                'in [source.NAME] (e.g. uai = "0610001V"), or use inspect --expect-uai'
            )
        self.uai = self.options.uai
        self.id_prefix = self.options.id_prefix
        self.encoding: str | None = self.options.encoding or None
        self.path = Path(location).expanduser()
        self._layouts: list[tuple[Path, Layout]] | None = None
        self._reported: set[tuple[str, str, str | None]] = set()

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        yield Structure(uai=self.uai, name=self.options.name, type="")
        for pupil in self._pupils():
            yield pupil.person
        seen: set[str] = set()
        for guardian in self._guardians():
            if guardian.person.id not in seen:
                seen.add(guardian.person.id)
                yield guardian.person
        functions: set[tuple[str, str]] = set()
        for teacher in self._teachers():
            if teacher.person.id not in seen:
                seen.add(teacher.person.id)
                yield teacher.person
            for code in teacher_functions(teacher.director, bool(teacher.class_label)):
                if (teacher.person.id, code) not in functions:
                    functions.add((teacher.person.id, code))
                    yield Function(person_id=teacher.person.id, uai=self.uai, code=code)

    def read_groups(self) -> Iterator[Group]:
        # A compact pass of its own: labels and levels are not on the pupil records.
        classes: dict[str, tuple[str, set[str]]] = {}
        for file, layout in self._files(FileKind.PUPILS):
            for row in self._rows(file):
                code, label = self._class_of(layout, row.cells)
                if code:
                    entry = classes.setdefault(code, (label or code, set()))
                    level = layout.get(row.cells, "level")
                    if level:
                        entry[1].add(level)
        labels = {norm_name(label): code for code, (label, _) in classes.items()}
        labels.update({norm_name(code): code for code in classes})
        for teacher in self._teachers():
            if teacher.class_label and norm_name(teacher.class_label) not in labels:
                code = teacher.class_label
                classes.setdefault(code, (code, set()))
                labels[norm_name(code)] = code
        for code in sorted(classes):
            label, levels = classes[code]
            yield Group(
                uai=self.uai,
                code=code,
                group_kind=GroupKind.CLASS,
                name=label,
                level=min(levels, key=level_rank) if levels else None,
            )

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        index: dict[tuple[str, str, str], list[str]] = {}
        labels: dict[str, str] = {}
        for pupil in self._pupils():
            if pupil.class_code is not None:
                yield Membership(person_id=pupil.person.id, uai=self.uai, group_code=pupil.class_code)
            for key in pupil.keys:
                ids = index.setdefault(key, [])
                if pupil.person.id not in ids:
                    ids.append(pupil.person.id)
                if pupil.class_code is not None:
                    labels.setdefault(key[2], pupil.class_code)
        for teacher in self._teachers():
            if teacher.class_label:
                code = labels.get(norm_name(teacher.class_label), teacher.class_label)
                yield Membership(person_id=teacher.person.id, uai=self.uai, group_code=code)
        edges: set[tuple[str, str]] = set()
        for guardian in self._guardians():
            for child in guardian.children:
                matches: list[str] = []
                for name in child.names:
                    for pupil_id in index.get((name, child.first_name, child.class_label), []):
                        if pupil_id not in matches:
                            matches.append(pupil_id)
                if not matches:
                    self._report("link.unresolved", child.where, f"child {child.position}: no pupil")
                elif len(matches) > 1:
                    self._report("link.ambiguous", child.where, f"child {child.position}: {len(matches)} pupils")
                elif (guardian.person.id, matches[0]) not in edges:
                    edges.add((guardian.person.id, matches[0]))
                    yield Guardianship(guardian_id=guardian.person.id, student_id=matches[0])

    # -- internals: files ----------------------------------------------------------------------
    def _report(self, code: str, where: str, detail: str | None = None) -> None:
        """Add a problem once, however many readers pass over the same line. Every (code, detail) has its
        row in the outcomes table (what happens to the record), which docs/problems.md repeats."""
        OUTCOMES.check(code, detail)
        if (code, where, detail) not in self._reported:
            self._reported.add((code, where, detail))
            self.problems.add(code, where, detail)

    def _files(self, kind: FileKind) -> Iterator[tuple[Path, Layout]]:
        if self._layouts is None:
            self._layouts = self._classify_all()
        for file, layout in self._layouts:
            if layout.kind is kind:
                yield file, layout

    def _classify_all(self) -> list[tuple[Path, Layout]]:
        if self.path.is_dir():
            candidates = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        elif self.path.is_file():
            candidates = [self.path]
        elif self.path.exists():  # /dev/zero, a fifo: endless or blocking
            raise InputError("not a regular file or a folder", where=str(self.path))
        else:
            raise InputError("no such file or folder", where=str(self.path))
        found: list[tuple[Path, Layout]] = []
        for file in candidates:
            with contextlib.closing(self._rows(file, header=True)) as rows:
                header = next(rows, None)
            layout = classify(header.cells) if header is not None else None
            if layout is None:
                self._report("file.unknown", f"{file.name}:1", "not an ONDE pupils, guardians or teachers header")
            else:
                found.append((file, layout))
        return found

    def _rows(self, file: Path, *, header: bool = False) -> Generator[CsvRow, None, None]:
        """Data rows of *file* (the header too if asked); undecodable lines are reported, never
        dropped silently."""
        first = not header
        try:
            for row in iter_rows(file, self.encoding):
                if isinstance(row, BadLine):
                    code, detail = _BAD_LINES[row.reason]
                    self._report(code, f"{file.name}:{row.line}", detail)
                    continue
                if first:
                    first = False
                    continue
                yield row
        except LookupError as exc:
            raise ConfigError(f"onde option encoding: {exc}") from None
        except OSError as exc:
            raise InputError(f"cannot read the file ({exc.strerror})", where=str(file)) from None

    def _where(self, file: Path, row: CsvRow) -> str:
        return f"{file.name}:{row.line}"

    def _date(self, text: str, where: str) -> dt.date | None:
        if not text:
            return None
        match = _FR_DATE.match(text)
        try:
            if match:
                return dt.date(int(match[3]), int(match[2]), int(match[1]))
            match = _ISO_DATE.match(text)
            if match:
                return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
        self._report("date.invalid", where, "birth date: neither dd/mm/yyyy nor yyyy-mm-dd")
        return None

    def _id(self, base: str) -> str:
        return f"{self.id_prefix}{base}"

    @staticmethod
    def _class_of(layout: Layout, cells: list[str]) -> tuple[str, str]:
        label = layout.get(cells, "class_name")
        code = layout.get(cells, "class_id") or label
        return code, label

    # -- internals: records --------------------------------------------------------------------
    def _pupils(self) -> Iterator[_Pupil]:
        seen_ine: set[str] = set()
        seen_ids: set[str] = set()
        for file, layout in self._files(FileKind.PUPILS):
            has_ine = "ine" in layout.columns
            for row in self._rows(file):
                where = self._where(file, row)
                family = layout.get(row.cells, "last_name")
                usage = layout.get(row.cells, "usage_name")
                first = layout.get(row.cells, "first_name")
                missing = [f for f, v in (("last name", family or usage), ("first name", first)) if not v]
                if missing:
                    for field in missing:
                        self._report("record.missing-field", where, f"pupil {field}")
                    continue
                birth_text = layout.get(row.cells, "birth_date")
                birth = self._date(birth_text, where)
                if not birth_text:
                    self._report("record.missing-field", where, "pupil birth date")
                ine = layout.get(row.cells, "ine").upper() or None
                if ine is not None and ine in seen_ine:
                    self._report("ine.duplicate", where, "INE of an earlier row")
                    continue
                if ine is None and has_ine:
                    self._report("ine.missing", where, "empty INE")
                if ine is not None:
                    seen_ine.add(ine)
                base = ine or derived_id(
                    self.uai, "pupil", family or usage, first, birth.isoformat() if birth else birth_text
                )
                person_id = self._id(base)
                if person_id in seen_ids:
                    self._report("record.invalid", where, "same pupil (names and birth date) twice")
                    continue
                seen_ids.add(person_id)
                # No class is not a fault: ONDE lists admitted pupils not yet put in a class
                # ("non répartis"); a guardian's child with no class links to them.
                code, label = self._class_of(layout, row.cells)
                person = Person(
                    id=person_id,
                    profile=Profile.STUDENT,
                    last_name=usage or family,
                    first_name=first,
                    birth_date=birth,
                    ine=ine,
                    structures=(self.uai,),
                    civility=SEX_CIVILITIES.get(norm_name(layout.get(row.cells, "sex"))),
                )
                class_keys = {norm_name(label), norm_name(code)} - ({""} if code else set())
                names = {norm_name(family), norm_name(usage)} - {""}
                keys = tuple(sorted((n, norm_name(first), c) for n in names for c in class_keys))
                yield _Pupil(where, person, code or None, keys)

    def _guardians(self) -> Iterator[_Guardian]:
        for file, layout in self._files(FileKind.GUARDIANS):
            for row in self._rows(file):
                where = self._where(file, row)
                family = layout.get(row.cells, "last_name")
                usage = layout.get(row.cells, "usage_name")
                first = layout.get(row.cells, "first_name")
                if not (family or usage) or not first:
                    self._report("record.missing-field", where, "guardian name")
                    continue
                children: list[_Child] = []
                for position, group in enumerate(layout.children, start=1):
                    cells = {f: (row.cells[i].strip() if i < len(row.cells) else "") for f, i in group.items()}
                    if not any(cells.values()):
                        continue
                    family_usage = (cells.get(CHILD_FIELDS[1], ""), cells.get(CHILD_FIELDS[0], ""))
                    names = tuple(n for n in map(norm_name, family_usage) if n)
                    child_first = norm_name(cells.get(CHILD_FIELDS[2], ""))
                    child_class = norm_name(cells.get(CHILD_FIELDS[3], ""))
                    if not names or not child_first:
                        self._report("record.missing-field", where, f"guardian child {position} name")
                        continue
                    children.append(_Child(where, position, names, child_first, child_class))
                if not children:
                    self._report("guardian.orphan", where, "no child")
                email = layout.get(row.cells, "email")
                person = Person(
                    id=self._id(
                        derived_id(
                            self.uai,
                            "guardian",
                            family or usage,
                            first,
                            layout.get(row.cells, "address"),
                            layout.get(row.cells, "postcode"),
                        )
                    ),
                    profile=Profile.GUARDIAN,
                    last_name=usage or family,
                    first_name=first,
                    emails=(email,) if email else (),
                    structures=(self.uai,),
                    civility=_civility(layout.get(row.cells, "civility")),
                )
                yield _Guardian(where, person, tuple(children))

    def _teachers(self) -> Iterator[_Teacher]:
        for file, layout in self._files(FileKind.TEACHERS):
            for row in self._rows(file):
                where = self._where(file, row)
                family = layout.get(row.cells, "last_name")
                usage = layout.get(row.cells, "usage_name")
                first = layout.get(row.cells, "first_name")
                if not (family or usage) or not first:
                    self._report("record.missing-field", where, "teacher name")
                    continue
                email = layout.get(row.cells, "email")
                person = Person(
                    id=self._id(derived_id(self.uai, "teacher", family or usage, first)),
                    profile=Profile.TEACHER,
                    last_name=usage or family,
                    first_name=first,
                    emails=(email,) if email else (),
                    structures=(self.uai,),
                    civility=_civility(layout.get(row.cells, "civility")),
                )
                director = norm_name(layout.get(row.cells, "director")) in DIRECTOR_YES
                yield _Teacher(where, person, director, layout.get(row.cells, "class_name"))
