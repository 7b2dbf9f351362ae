"""The ``siecle`` connector: SIECLE BEE and STS-web XML exports of one secondary school (source only).

Location: ``siecle:FOLDER``, ``siecle:EXPORT.zip`` or ``siecle:FILE.xml``; a folder may hold zips.
Files are recognised by their root element: ``BEE_ELEVES`` (ElevesSansAdresses/ElevesAvecAdresses),
``BEE_RESPONSABLES`` (both generations), ``BEE_NOMENCLATURES`` and ``STS_EDT``
(``sts_emp_<UAI>_<year>.xml``). Both ``ElevesSansAdresses`` and ``ElevesAvecAdresses`` may be given:
a pupil (``ELEVE_ID``), person (``PERSONNE_ID``) or link seen twice is read once.

Options: :class:`SiecleOptions` — ``expect_uai`` (``uai.mismatch`` when a file's ``PARAMETRES/UAJ``
differs, ``uai.missing`` when a file has none; also the UAI used when no file carries one), ``id_prefix``
(prepended to every person id), ``name`` (the Structure's name, which the exports do not carry). Every
UAI, read or given, is checked (seven digits and the check letter: ``uai.invalid``).

Ids: pupils ``ELEVE_ID``, guardians ``PERSONNE_ID``, staff STS ``INDIVIDU/@ID``; groups
``UAI$CODE_STRUCTURE``. Teachers' memberships come from STS services (``subject`` =
``CODE_MATIERE``); a teacher's disciplines go on the ENS function (or the only function). Names: the
usage name (``NOM_USAGE``) is ``last_name``, the birth name (``NOM_DE_FAMILLE``, ``NOM_PATRONYMIQUE``)
is kept as ``birth_name`` when it differs.

Deliberate, counted handling (never silent): what happens to the record for each problem is the table
in :mod:`._outcomes` (docs/problems.md repeats it; the reader refuses to report a case it has no row
for). In short: pupils who left (``DATE_SORTIE``), are not yet arrived (no ``ID_NATIONAL`` element) or
are not enrolled this year (division ``Inactifs``) are *excluded* with their links and counted by
reason, and so is a guardian none of whose pupils is migrated; an empty ``ID_NATIONAL`` is the error
``ine.missing`` (the pupil is kept); people without names, duplicate INEs and ids shared by two kinds are
*dropped*; links to what no file holds are dropped (``ref.dangling``); a missing ``CODE_SEXE`` is
``record.incomplete``. Files the XML layer refuses (forbidden DTD, bad encoding, UTF-16, an empty or
endless prolog) or that stop early are reported as such — when that leaves no UAI, the readers yield
nothing, rather than failing with "no file holds PARAMETRES/UAJ".

Streaming: one pass over the files keeps only compact maps (ids → status codes and class codes) and
spools what the readers need of each element (a few strings per person or link) to temporary files
(:class:`~ent_migrate.xmlsafe.Spool`); the readers stream those back once every status is known, so
the XML is parsed once. The spools live until :meth:`close`, or until the files change.
STRUCTURES may come before or after ELEVES.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree

from ent_migrate.connectors.siecle._files import EXPECTED, Root, SourceFile, discover
from ent_migrate.connectors.siecle._index import (
    Index,
    Place,
    Status,
    child_text,
    guardian_row,
    named,
    place_of,
    staff_row,
    structure_codes,
    texts,
)
from ent_migrate.connectors.siecle._outcomes import OUTCOMES
from ent_migrate.connectors.siecle._records import guardian, pupil, staff
from ent_migrate.connectors.siecle._values import (
    kinship,
    legal_level,
    level_of_mef,
)
from ent_migrate.contract import Capability, Connector, ConnectorOptions, Role
from ent_migrate.errors import InputError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Structure
from ent_migrate.options import option
from ent_migrate.problems import Problems, Severity
from ent_migrate.uai import UAI_PATTERN, check_uai
from ent_migrate.xmlsafe import export_signature, iter_elements, text_of, where

__all__ = ["INACTIVE_DIVISION", "SiecleConnector", "SiecleOptions"]

#: the pseudo-division SIECLE puts inactive pupils in
INACTIVE_DIVISION = "Inactifs"
#: distinct link field values decoded once and remembered (see _index_guardians)
_MEANINGS = 256
#: problems after which a file is not read any further (the XML layer stops there)
_STOP_CODES = ("xml.malformed", "xml.dtd-forbidden", "encoding.unsupported", "archive.unsafe-member")


@dataclasses.dataclass(frozen=True, slots=True)
class SiecleOptions(ConnectorOptions):
    expect_uai: str = option(
        "", "the school's UAI: uai.mismatch when a file's PARAMETRES/UAJ differs; used when no file carries one"
    )
    id_prefix: str = option("", "prepended to every person id (e.g. an académie code)")
    name: str = option("", "the school's name for the Structure record (the exports do not carry it)")

    def __post_init__(self) -> None:
        uai = self.expect_uai.strip().upper()
        reason = check_uai(uai) if uai else None
        if reason:
            raise ValueError(f"option expect_uai {self.expect_uai!r} is not a UAI: {reason}")
        object.__setattr__(self, "expect_uai", uai)  # frozen: normalise once, here


class SiecleConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "siecle"
    summary: ClassVar[str] = "SIECLE BEE and STS-web XML exports of a secondary school (folder or zip)."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    )
    location_help: ClassVar[str] = "siecle:FOLDER, siecle:EXPORT.zip or siecle:FILE.xml"
    fixture_writer: ClassVar[tuple[str, str] | None] = ("ent_migrate.connectors.siecle.writer:write_siecle", "batches")
    Options: ClassVar[type[ConnectorOptions]] = SiecleOptions

    options: SiecleOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self.path = Path(location).expanduser()
        self.expect_uai = self.options.expect_uai
        self.id_prefix = self.options.id_prefix
        self._files: list[SourceFile] | None = None
        self._index_cache: Index | None = None
        self._signature: tuple[object, ...] = ()  # the files' when the index was built
        self._reported: set[tuple[str, str, str | None]] = set()

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        index = self._index()
        if index.unreadable:
            return
        yield Structure(uai=index.uai, name=self.options.name, type="")
        # Each spool holds the first element of each id, in file order, as the files list them.
        for row in index.pupil_rows:
            if index.pupils.get(row[0], "?") is None:
                yield pupil(row, index, self.id_prefix, self._report)
        for row in index.guardian_rows:
            if row[0] in index.guardians:
                yield guardian(row, index.uai, self.id_prefix)
        for row in index.staff_rows:
            if row[0] in index.staff:
                yield from staff(row, index.uai, self.id_prefix, self._report)

    def read_groups(self) -> Iterator[Group]:
        index = self._index()
        if index.unreadable:
            return
        groups: dict[str, tuple[GroupKind, str, str | None]] = dict(index.defined)
        if not index.has_sts:
            # Without STS, the classes are the ones pupils are in (a class with no pupil is not in BEE).
            for eleve_id, codes in index.structures.items():
                if index.pupils.get(eleve_id, "?") is not None:
                    continue
                for code, kind in codes:
                    if code != INACTIVE_DIVISION:
                        kind_ = GroupKind.CLASS if kind == "D" else GroupKind.GROUP
                        groups.setdefault(code, (kind_, code, None))
        for code in sorted(groups):
            group_kind, label, level = groups[code]
            yield Group(uai=index.uai, code=code, group_kind=group_kind, name=label, level=level)

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        index = self._index()
        if index.unreadable:
            return
        uai, pupils, defined = index.uai, index.pupils, index.defined if index.has_sts else None
        structures = index.structures
        for eleve_id in sorted(structures):  # the keys only: no (key, value) tuple per pupil at 1M
            if pupils.get(eleve_id, "?") is not None:
                continue
            person_id = self.id_prefix + eleve_id
            for code, _kind in structures[eleve_id]:
                if defined is not None and code not in defined:
                    continue  # reported as ref.dangling by the index pass
                yield Membership(person_id=person_id, uai=uai, group_code=code)
        seen: set[tuple[str, str, str]] = set()
        for teacher_id, place, code, subject in index.service_rows:
            if teacher_id in index.unnamed:
                continue  # refused for its missing names, already reported
            if teacher_id not in index.staff:
                self._report("ref.dangling", place, "ENSEIGNANT not in INDIVIDUS")
                continue
            key = (teacher_id, code, subject)
            if key not in seen:
                seen.add(key)
                yield Membership(
                    person_id=self._pid(teacher_id), uai=index.uai, group_code=code, subject=subject or None
                )
        # Links seen, each as one string (NUL, which XML text cannot hold, between the two ids): half the
        # memory of a set of (id, id) tuples, the reader's peak at 1M accounts.
        links: set[str] = set()
        prefix = self.id_prefix
        for eleve_id, personne_id, level, kin in index.link_rows:
            if index.pupils.get(eleve_id, "?") is not None or personne_id not in index.guardians:
                continue
            link = f"{personne_id}\0{eleve_id}"
            if link in links:
                continue
            links.add(link)
            yield Guardianship(
                guardian_id=prefix + personne_id, student_id=prefix + eleve_id, legal_level=level, kinship=kin
            )

    # -- internals: files and problems ---------------------------------------------------------
    def _report(self, code: str, place: str, detail: str | None = None, severity: Severity | None = None) -> None:
        """Add a problem once, however many passes meet the same place. Every (code, detail) has its row in
        the outcomes table (what happens to the record), which docs/problems.md repeats."""
        OUTCOMES.check(code, detail)
        if (code, place, detail) not in self._reported:
            self._reported.add((code, place, detail))
            self.problems.add(code, place, detail, severity)

    def _stops(self) -> int:
        """How many problems so far ended the reading of a file early."""
        return sum(self.problems.count(code) for code in _STOP_CODES)

    def _scan(self, index: Index, file: SourceFile, tags: Collection[str]) -> Iterator[etree._Element]:
        """The index pass over one file: its elements named *tags*, its ``PARAMETRES/UAJ`` checked on the way.
        A file read to its end without a UAJ is ``uai.missing`` when a UAI is expected."""
        stops, seen_uaj = self._stops(), False
        # EXPECTED: the other tags the file may hold. The XML layer is read here, not through another
        # generator: every element of the export passes this loop.
        with file.opened() as stream:
            for element in iter_elements(
                stream, file.label, self.problems, {"UAJ", *tags}, expected=EXPECTED[file.root]
            ):
                if element.tag == "UAJ":
                    seen_uaj = True
                    self._check_uai(index, file, element)
                else:
                    yield element
        if not seen_uaj and self.expect_uai and self._stops() == stops:
            self._report("uai.missing", file.label, "no PARAMETRES/UAJ")

    def _of(self, root: Root) -> list[SourceFile]:
        if self._files is None:
            if not self.path.exists():
                raise InputError("no such file or folder", where=str(self.path))
            if not (self.path.is_dir() or self.path.is_file()):  # /dev/zero, a fifo: endless or blocking
                raise InputError("not a regular file or a folder", where=str(self.path))
            self._files = discover(self.path, self._report)
        return [f for f in self._files if f.root is root]

    def _pid(self, source_id: str) -> str:
        return f"{self.id_prefix}{source_id}"

    # -- internals: the index pass ---------------------------------------------------------------
    def close(self) -> None:
        if self._index_cache is not None:
            self._index_cache.close()
            self._index_cache = None

    def _index(self) -> Index:
        current = export_signature(self.path)
        if self._index_cache is not None and current != self._signature:
            # Changed files: the index and its spools describe another export, and so do the
            # problems found so far; start again as a new connector would. The old spools are
            # dropped, not closed (a reader may still be replaying them): their anonymous files go
            # with their last reference.
            self._index_cache = None
            self._files = None
            self._reported.clear()
            self.problems = Problems()
        if self._index_cache is None:
            self._signature = current
            index = self._build_index_or_close()
            self._index_cache = index
        return self._index_cache

    def _build_index_or_close(self) -> Index:
        index = Index()
        try:
            self._build_index(index)
        except OSError as exc:  # a file vanished or cannot be read: say which, never a traceback
            index.close()
            where_ = exc.filename or str(self.path)
            raise InputError(f"cannot read ({exc.strerror or type(exc).__name__})", where=str(where_)) from None
        except BaseException:
            index.close()  # a failed pass (no UAJ, unsafe archive…) leaves no spool behind
            raise
        return index

    def _check_uai(self, index: Index, file: SourceFile, element: etree._Element) -> None:
        uai = (element.get("CODE") or text_of(element)).strip().upper()
        place = where(file.label, element)
        if not uai:
            self._report("uai.missing", place, "empty PARAMETRES/UAJ")
            return
        if check_uai(uai):  # in the reader's own two wordings (the outcomes table keys on them)
            letter = uai.isascii() and UAI_PATTERN.fullmatch(uai) is not None
            self._report("uai.invalid", place, "wrong check letter" if letter else "not seven digits and a letter")
        if self.expect_uai and uai != self.expect_uai:
            self._report("uai.mismatch", place, "PARAMETRES/UAJ is not the expected UAI")
        if not index.uai:
            index.uai = uai  # the files' UAI keys the records, even when it is not the expected one
        elif uai != index.uai:
            self._report("uai.mismatch", place, "files of two different schools")

    def _build_index(self, index: Index) -> None:
        ines: set[str] = set()
        spooled: set[str] = set()  # INDIVIDU ids already spooled: the readers take the first element
        # STS first: it defines the classes pupils refer to, and the staff ids services refer to.
        for file in self._of(Root.STS):
            index.has_sts = True
            base = index.base(file.label)
            for element in self._scan(index, file, {"INDIVIDU", "DIVISION", "GROUPE"}):
                if element.tag == "INDIVIDU":
                    individu_id = element.get("ID", "").strip()
                    place = where(file.label, element)
                    children = texts(element)
                    if individu_id and individu_id not in spooled:
                        spooled.add(individu_id)
                        index.staff_rows.append(staff_row(element, children, individu_id, place))
                    if not individu_id:
                        self._report("record.missing-field", place, "INDIVIDU/@ID")
                    elif not named(children, "NOM_USAGE", "NOM_PATRONYMIQUE"):
                        self._report("record.missing-field", place, "INDIVIDU NOM_USAGE or PRENOM")
                        index.unnamed.add(individu_id)
                    else:
                        index.staff.setdefault(individu_id, place_of(base, element))
                elif element.get("CODE", "").strip():
                    kind = GroupKind.CLASS if element.tag == "DIVISION" else GroupKind.GROUP
                    code = element.get("CODE", "").strip()
                    levels = {level_of_mef(m.get("CODE", "")) for m in element.iter("MEF_APPARTENANCE")} - {None}
                    level = next(iter(levels)) if kind is GroupKind.CLASS and len(levels) == 1 else None
                    index.defined.setdefault(code, (kind, child_text(element, "LIBELLE_LONG") or code, level))
                    for service in element.iter("SERVICE"):
                        subject = service.get("CODE_MATIERE", "").strip()
                        for teacher in service.iter("ENSEIGNANT"):
                            teacher_id = teacher.get("ID", "").strip()
                            index.service_rows.append((teacher_id, where(file.label, teacher), code, subject))
        for file in self._of(Root.NOMENCLATURES):
            for _element in self._scan(index, file, ()):
                pass  # only its UAJ is read
        structure_lines: dict[str, Place] = {}  # ELEVE_ID → place of its STRUCTURES_ELEVE, for messages
        # Pupils of a class share their structures: one tuple per distinct list, not one per pupil
        # (at 1M accounts, a fifth of the index).
        shapes: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        for file in self._of(Root.ELEVES):
            index.has_eleves = True
            base = index.base(file.label)
            for element in self._scan(index, file, {"ELEVE", "STRUCTURES_ELEVE"}):
                if element.tag == "STRUCTURES_ELEVE":
                    eleve_id = element.get("ELEVE_ID", "").strip()
                    if eleve_id and eleve_id not in index.structures:
                        codes = tuple(structure_codes(element))
                        index.structures[eleve_id] = shapes.setdefault(codes, codes)
                        structure_lines[eleve_id] = place_of(base, element)
                else:
                    self._index_pupil(index, base, element, ines)
        shapes.clear()
        ines.clear()
        for eleve_id, at in structure_lines.items():
            status = index.pupils.get(eleve_id, "?")
            codes = index.structures[eleve_id]
            if status == "?":
                self._report("ref.dangling", index.where(at), "STRUCTURES_ELEVE of an ELEVE_ID with no ELEVE")
                continue
            if any(code == INACTIVE_DIVISION for code, _ in codes) and status is None:
                index.pupils[eleve_id] = "pupil.inactive"
                self._report("pupil.inactive", index.where(at), "division Inactifs")
                continue
            if status is not None:
                continue
            if index.has_sts:
                for code, _kind in codes:
                    if code not in index.defined:
                        self._report("ref.dangling", index.where(at), "class or group not defined in STS")
            if not any(kind == "D" for _, kind in codes):
                self._report("pupil.no-class", index.where(at), "no division")
        structure_lines.clear()
        for eleve_id, at in index.places.items():
            if index.pupils[eleve_id] is None and eleve_id not in index.structures:
                self._report("pupil.no-class", index.where(at), "no STRUCTURES_ELEVE")
        index.places.clear()
        self._index_guardians(index)
        self._check_id_spaces(index)
        index.persons.clear()  # only the index pass reads it: free it for the readers
        if not self._files and not self._stops():
            raise InputError(
                "no SIECLE or STS-web file here (BEE_ELEVES, BEE_RESPONSABLES, BEE_NOMENCLATURES or STS_EDT)",
                where=str(self.path),
            )
        if not index.uai:
            if self.expect_uai:
                index.uai = self.expect_uai
            elif self._stops():
                index.unreadable = True  # the refused or malformed file is the problem to report, not its UAJ
            else:
                raise InputError("no file holds PARAMETRES/UAJ: pass option expect_uai", where=str(self.path))

    def _index_pupil(self, index: Index, base: Place, element: etree._Element, ines: set[str]) -> None:
        # the place as an int (spooled, kept in index.places): written out only for a problem
        at = place_of(base, element)
        eleve_id = element.get("ELEVE_ID", "").strip()
        if not eleve_id:
            self._report("record.missing-field", index.where(at), "ELEVE/@ELEVE_ID")
            return
        if eleve_id in index.pupils:
            return  # the same pupil in ElevesSansAdresses and ElevesAvecAdresses
        children = texts(element)
        family = children.get("NOM_DE_FAMILLE", "") or children.get("NOM", "")
        usage = children.get("NOM_USAGE", "")
        first = children.get("PRENOM", "")
        ine = children.get("ID_NATIONAL", "").upper()
        has_ine = "ID_NATIONAL" in children  # an empty element is a missing INE; no element, a pupil to come
        index.pupil_rows.append(
            (
                eleve_id,
                at,
                family,
                usage,
                first,
                children.get("DATE_NAISS", ""),
                children.get("PRENOM2", ""),
                children.get("PRENOM3", ""),
                ine,
                children.get("CODE_SEXE", "") if "CODE_SEXE" in children else None,
            )
        )
        status: Status = None
        if children.get("DATE_SORTIE", ""):
            status = "pupil.left"
            self._report(status, index.where(at), "DATE_SORTIE")
        elif not has_ine:
            status = "pupil.not-arrived"
            self._report(status, index.where(at), "no ID_NATIONAL")
        elif ine and ine in ines:
            status = "ine.duplicate"
            self._report(status, index.where(at))
        elif not (family or usage):
            status = "record.missing-field"
            self._report(status, index.where(at), "pupil NOM_DE_FAMILLE")
        elif not first:
            status = "record.missing-field"
            self._report(status, index.where(at), "pupil PRENOM")
        elif not ine:
            self._report("ine.missing", index.where(at), "empty ID_NATIONAL", Severity.ERROR)
        if ine:
            ines.add(ine)
        index.pupils[eleve_id] = status
        if status is None:
            index.places[eleve_id] = at

    def _index_guardians(self, index: Index) -> None:
        persons, unnamed = index.persons, index.unnamed
        # A person's links are known without a set of linked ids (one more string per guardian at 1M):
        # a linked person's place is stored complemented (negative) in persons. Only links met before
        # their PERSONNE (not the export's order) need this set.
        linked_early: set[str] = set()
        # (PERSONNE_ID, place) of links met before their PERSONNE, to check once persons are known; links
        # to a PERSONNE already read are settled at once, so this stays small in the exports' order
        pending: list[tuple[str, Place]] = []
        # (NIVEAU_RESPONSABILITE, RESP_LEGAL, CODE_PARENTE) → (legal level, kinship): a few distinct
        # values for every link of the export, decoded once each (capped: a file may hold any values)
        meanings: dict[tuple[str, str, str], tuple[int | None, str | None]] = {}
        for file in self._of(Root.RESPONSABLES):
            base = index.base(file.label)
            for element in self._scan(index, file, {"PERSONNE", "RESPONSABLE_ELEVE"}):
                if element.tag == "PERSONNE":
                    personne_id = element.get("PERSONNE_ID", "").strip()
                    at = place_of(base, element)
                    children = texts(element)
                    if not personne_id:
                        self._report("record.missing-field", index.where(at), "PERSONNE/@PERSONNE_ID")
                    elif not named(children, "NOM_USAGE", "NOM_DE_FAMILLE", "NOM"):
                        self._report("record.missing-field", index.where(at), "guardian NOM_DE_FAMILLE or PRENOM")
                        unnamed.add(personne_id)
                    elif personne_id not in persons:
                        # A guardian never has an unnamed element (it would be refused), so its first
                        # named element is its first element: the one the accounts reader takes.
                        persons[personne_id] = at
                        index.guardian_rows.append(guardian_row(children, personne_id))
                else:
                    children = texts(element)
                    eleve_id = children.get("ELEVE_ID", "")
                    personne_id = children.get("PERSONNE_ID", "")
                    if not eleve_id or not personne_id:
                        place = where(file.label, element)
                        self._report("record.missing-field", place, "RESPONSABLE_ELEVE ELEVE_ID or PERSONNE_ID")
                        continue
                    fields = (
                        children.get("NIVEAU_RESPONSABILITE", ""),
                        children.get("RESP_LEGAL", ""),
                        children.get("CODE_PARENTE", ""),
                    )
                    meaning = meanings.get(fields)
                    if meaning is None:
                        meaning = (legal_level(fields[0], fields[1]), kinship(fields[2]))
                        if len(meanings) < _MEANINGS:
                            meanings[fields] = meaning
                    index.link_rows.append((eleve_id, personne_id, *meaning))
                    known = persons.get(personne_id)
                    if known is None:
                        linked_early.add(personne_id)
                    elif known >= 0:
                        persons[personne_id] = ~known
                    status = index.pupils.get(eleve_id, "?")
                    if status == "?":
                        self._report(
                            "ref.dangling", where(file.label, element), "RESPONSABLE_ELEVE to an unknown ELEVE_ID"
                        )
                    elif status is None:
                        if known is not None:
                            index.guardians.add(personne_id)  # unless refused later: see below
                        elif personne_id not in unnamed:  # unnamed only grows: refused for good
                            pending.append((personne_id, place_of(base, element)))
        # A person refused for its names (an unnamed element after a named one, or a staff id) is not a
        # guardian, whenever its links were met.
        index.guardians.difference_update(unnamed)
        for personne_id, at in pending:
            if personne_id in unnamed:
                continue  # refused for its missing names, already reported
            if personne_id in persons:
                index.guardians.add(personne_id)
            else:
                self._report("ref.dangling", index.where(at), "RESPONSABLE_ELEVE to an unknown PERSONNE_ID")
        for personne_id, at in persons.items():
            if at >= 0 and personne_id not in linked_early:
                self._report("guardian.orphan", index.where(at), "no RESPONSABLE_ELEVE")
            elif personne_id not in index.guardians:
                self._report("guardian.orphan", index.where(at), "every pupil linked is excluded")

    def _check_id_spaces(self, index: Index) -> None:
        """ELEVE_ID, PERSONNE_ID and INDIVIDU/@ID are separate numberings, but all three become person
        ids: a value used by two kinds would merge two people, so the later kind is refused."""
        # looked up in the pupils' statuses rather than copied into a set of the migrated (one more
        # entry per pupil at the index pass's peak)
        pupils = index.pupils
        for personne_id in sorted(p for p in index.guardians if pupils.get(p, "?") is None):
            index.guardians.discard(personne_id)
            self._report("record.invalid", index.where(index.persons[personne_id]), "PERSONNE_ID equal to an ELEVE_ID")
        clashes = sorted(i for i in index.staff if pupils.get(i, "?") is None or i in index.guardians)
        for individu_id in clashes:
            place = index.where(index.staff.pop(individu_id))
            self._report("record.invalid", place, "INDIVIDU ID equal to a pupil or guardian id")
            index.unnamed.add(individu_id)  # its services are dropped silently: reported here
