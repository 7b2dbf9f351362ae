"""The ``siecle`` connector: SIECLE BEE and STS-web XML exports of one secondary school (source only).

Location: ``siecle:FOLDER``, ``siecle:EXPORT.zip`` or ``siecle:FILE.xml``; a folder may hold zips.
Files are recognised by their root element: ``BEE_ELEVES`` (ElevesSansAdresses/ElevesAvecAdresses),
``BEE_RESPONSABLES`` (both generations), ``BEE_NOMENCLATURES`` and ``STS_EDT``
(``sts_emp_<UAI>_<year>.xml``). Both ``ElevesSansAdresses`` and ``ElevesAvecAdresses`` may be given:
a pupil (``ELEVE_ID``), person (``PERSONNE_ID``) or link seen twice is read once.

Options: ``expect_uai`` (``uai.mismatch`` when a file's ``PARAMETRES/UAJ`` differs; also the UAI
used when no file carries one), ``id_prefix`` (prepended to every person id), ``name`` (the
Structure's name, which the exports do not carry).

Ids: pupils ``ELEVE_ID``, guardians ``PERSONNE_ID``, staff STS ``INDIVIDU/@ID``; groups
``UAI$CODE_STRUCTURE``. Teachers' memberships come from STS services (``subject`` =
``CODE_MATIERE``); a teacher's disciplines go on the ENS function (or the only function).

Deliberate, counted handling (never silent):

* ``pupil.left`` (non-empty ``DATE_SORTIE``), ``pupil.not-arrived`` (no ``ID_NATIONAL``),
  ``pupil.inactive`` (division ``Inactifs``), ``ine.duplicate`` (second pupil with an INE): the pupil
  is not migrated, nor are its links; a guardian whose pupils are all excluded is not migrated.
* ``pupil.no-class``: a pupil in groups but no division (or in no structure at all) is migrated
  with its group memberships.
* ``ref.dangling``: a link to a pupil, person or teacher no file holds, or (when STS defines the
  divisions and groups) a pupil in a class STS does not define; the link is dropped.
* ``guardian.orphan``: a person no ``RESPONSABLE_ELEVE`` names; not migrated.
* ``record.missing-field``: a person without last name or first name is not migrated, nor its links;
  a pupil without birth date is migrated without it.
* ``record.invalid``: a PERSONNE_ID or INDIVIDU ID equal to a migrated pupil's ELEVE_ID (or an
  INDIVIDU ID equal to a PERSONNE_ID): three separate numberings become one id space, so the later
  kind is refused with its links rather than merged with another person.

Streaming: one pass over the files keeps only compact maps (ids → status codes and class codes) and
spools what the readers need of each element (a few strings per person or link) to temporary files
(:class:`~ent_migrate.xmlsafe.Spool`); the readers stream those back once every status is known, so
the XML is parsed once. The spools live until :meth:`close`, or until the files change.
STRUCTURES may come before or after ELEVES.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree

from ent_migrate.connectors.siecle._files import Root, SourceFile, discover
from ent_migrate.connectors.siecle._values import (
    civility,
    kinship,
    legal_level,
    level_of_mef,
    parse_date,
    sex_civility,
)
from ent_migrate.contract import Capability, Connector, Role
from ent_migrate.errors import InputError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Profile, Structure
from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import Spool, export_signature, iter_elements, text_of, where

__all__ = ["INACTIVE_DIVISION", "SiecleConnector"]

#: the pseudo-division SIECLE puts inactive pupils in
INACTIVE_DIVISION = "Inactifs"
_UAI = re.compile(r"^\d{7}[A-Z]$")

# Pupil status in the index: None = migrated; otherwise the problem code that excluded it.
_Status = str | None


@dataclasses.dataclass
class _Index:
    """What one pass over every file learns, kept compact: ids → short codes only."""

    uai: str = ""
    pupils: dict[str, _Status] = dataclasses.field(default_factory=dict)
    # ELEVE_ID → ((CODE_STRUCTURE, TYPE_STRUCTURE), ...) as BEE_ELEVES lists them
    structures: dict[str, tuple[tuple[str, str], ...]] = dataclasses.field(default_factory=dict)
    persons: dict[str, str] = dataclasses.field(default_factory=dict)  # PERSONNE_ID → place, declared ones
    places: dict[str, str] = dataclasses.field(default_factory=dict)  # ELEVE_ID → place, migrated pupils
    guardians: set[str] = dataclasses.field(default_factory=set)  # PERSONNE_IDs linked to a migrated pupil
    staff: dict[str, str] = dataclasses.field(default_factory=dict)  # STS INDIVIDU id → place
    # PERSONNE_IDs and INDIVIDU ids refused (missing names, id clash; reported once): links to them are dropped
    unnamed: set[str] = dataclasses.field(default_factory=set)
    # STS divisions and groups: CODE → (kind, label, level)
    defined: dict[str, tuple[GroupKind, str, str | None]] = dataclasses.field(default_factory=dict)
    has_eleves: bool = False
    has_sts: bool = False
    # What the readers need of each element, in file order (first occurrence of each id):
    # pupils (ELEVE_ID, place, family, usage, PRENOM, DATE_NAISS, PRENOM2, PRENOM3, ID_NATIONAL, CODE_SEXE)
    pupil_rows: Spool = dataclasses.field(default_factory=Spool)
    # guardians (PERSONNE_ID, family, NOM_USAGE, PRENOM, MEL, LC_CIVILITE)
    guardian_rows: Spool = dataclasses.field(default_factory=Spool)
    # staff (ID, place, NOM_PATRONYMIQUE, NOM_USAGE, PRENOM, FONCTION codes, DISCIPLINE codes,
    # DATE_NAISSANCE, CIVILITE)
    staff_rows: Spool = dataclasses.field(default_factory=Spool)
    # teachers' services (ENSEIGNANT ID, its place, DIVISION/GROUPE CODE, CODE_MATIERE)
    service_rows: Spool = dataclasses.field(default_factory=Spool)
    # RESPONSABLE_ELEVE (ELEVE_ID, PERSONNE_ID, NIVEAU_RESPONSABILITE, RESP_LEGAL, CODE_PARENTE)
    link_rows: Spool = dataclasses.field(default_factory=Spool)

    def close(self) -> None:
        for spool in (self.pupil_rows, self.guardian_rows, self.staff_rows, self.service_rows, self.link_rows):
            spool.close()


def _children(element: etree._Element) -> dict[object, etree._Element]:
    """Each child tag → its first child of that tag: one walk over the children instead of one
    ``find`` (a path search) per field read."""
    return {child.tag: child for child in reversed(element)}


def _child(element: etree._Element, tag: str) -> str:
    return text_of(element.find(tag)).strip()


def _text(children: dict[object, etree._Element], tag: str) -> str:
    """``_child`` over :func:`_children`."""
    child = children.get(tag)
    if child is None:
        return ""
    if len(child) == 0:  # the usual leaf, without text_of's call
        text = child.text
        return text.strip() if text else ""
    return text_of(child).strip()


def _structure_codes(element: etree._Element) -> Iterator[tuple[str, str]]:
    """(CODE_STRUCTURE, TYPE_STRUCTURE) of each STRUCTURE of a STRUCTURES_ELEVE that has a code."""
    for structure in element.iter("STRUCTURE"):
        children = _children(structure)
        code = _text(children, "CODE_STRUCTURE")
        if code:
            yield code, _text(children, "TYPE_STRUCTURE").upper()


def _named(children: dict[object, etree._Element], *last_name_tags: str) -> bool:
    """Whether a person element has a last name (any of the tags) and a PRENOM."""
    return any(_text(children, tag) for tag in last_name_tags) and bool(_text(children, "PRENOM"))


class SiecleConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "siecle"
    summary: ClassVar[str] = "SIECLE BEE and STS-web XML exports of a secondary school (folder or zip)."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    )
    location_help: ClassVar[str] = "siecle:FOLDER, siecle:EXPORT.zip or siecle:FILE.xml"

    # -- configuration -------------------------------------------------------------------------
    def __init__(self, location: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(location, options)
        self.path = Path(location).expanduser()
        self.expect_uai = str(self.options.get("expect_uai") or "").strip().upper()
        self.id_prefix = str(self.options.get("id_prefix") or "")
        self._files: list[SourceFile] | None = None
        self._index_cache: _Index | None = None
        self._signature: tuple[object, ...] = ()  # the files' when the index was built
        self._reported: set[tuple[str, str, str | None]] = set()

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        index = self._index()
        yield Structure(uai=index.uai, name=str(self.options.get("name") or ""), type="")
        # Each spool holds the first element of each id, in file order, as the files list them.
        for row in index.pupil_rows:
            if index.pupils.get(row[0], "?") is None:
                yield self._pupil(row, index.uai)
        for row in index.guardian_rows:
            if row[0] in index.guardians:
                yield self._guardian(row, index.uai)
        for row in index.staff_rows:
            if row[0] in index.staff:
                yield from self._staff(row, index.uai)

    def read_groups(self) -> Iterator[Group]:
        index = self._index()
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
        for eleve_id in sorted(index.structures):
            if index.pupils.get(eleve_id, "?") is not None:
                continue
            for code, _kind in index.structures[eleve_id]:
                if index.has_sts and code not in index.defined:
                    continue  # reported as ref.dangling by the index pass
                yield Membership(person_id=self._pid(eleve_id), uai=index.uai, group_code=code)
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
        links: set[tuple[str, str]] = set()
        for eleve_id, personne_id, niveau, resp_legal, parente in index.link_rows:
            if index.pupils.get(eleve_id, "?") is not None or personne_id not in index.guardians:
                continue
            if (personne_id, eleve_id) in links:
                continue
            links.add((personne_id, eleve_id))
            yield Guardianship(
                guardian_id=self._pid(personne_id),
                student_id=self._pid(eleve_id),
                legal_level=legal_level(niveau, resp_legal),
                kinship=kinship(parente),
            )

    # -- internals: files and problems ---------------------------------------------------------
    def _report(self, code: str, place: str, detail: str | None = None) -> None:
        """Add a problem once, however many passes meet the same place."""
        if (code, place, detail) not in self._reported:
            self._reported.add((code, place, detail))
            self.problems.add(code, place, detail)

    def _of(self, root: Root) -> list[SourceFile]:
        if self._files is None:
            if not self.path.exists():
                raise InputError("no such file or folder", where=str(self.path))
            self._files = discover(self.path, self._report)
        return [f for f in self._files if f.root is root]

    def _elements(
        self, file: SourceFile, tags: Collection[str], problems: Problems | None = None
    ) -> Iterator[etree._Element]:
        """The file's elements named *tags*. XML problems go to *problems* (a scratch collector if
        None); the index pass, the only one that parses, passes the connector's own."""
        with file.opened() as stream:
            yield from iter_elements(stream, file.label, problems if problems is not None else Problems(), tags)

    def _pid(self, source_id: str) -> str:
        return f"{self.id_prefix}{source_id}"

    # -- internals: the index pass ---------------------------------------------------------------
    def close(self) -> None:
        if self._index_cache is not None:
            self._index_cache.close()
            self._index_cache = None

    def _index(self) -> _Index:
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

    def _build_index_or_close(self) -> _Index:
        index = _Index()
        try:
            self._build_index(index)
        except BaseException:
            index.close()  # a failed pass (no UAJ, unsafe archive…) leaves no spool behind
            raise
        return index

    def _check_uai(self, index: _Index, file: SourceFile, element: etree._Element) -> None:
        uai = (element.get("CODE") or text_of(element)).strip().upper()
        place = where(file.label, element)
        if not uai:
            self._report("uai.missing", place, "empty PARAMETRES/UAJ")
            return
        if self.expect_uai and uai != self.expect_uai:
            self._report("uai.mismatch", place, "PARAMETRES/UAJ is not the expected UAI")
        if not index.uai:
            index.uai = uai  # the files' UAI keys the records, even when it is not the expected one
        elif uai != index.uai:
            self._report("uai.mismatch", place, "files of two different schools")

    def _build_index(self, index: _Index) -> None:
        ines: set[str] = set()
        spooled: set[str] = set()  # INDIVIDU ids already spooled: the readers take the first element
        # STS first: it defines the classes pupils refer to, and the staff ids services refer to.
        for file in self._of(Root.STS):
            index.has_sts = True
            for element in self._elements(file, {"UAJ", "INDIVIDU", "DIVISION", "GROUPE"}, self.problems):
                if element.tag == "UAJ":
                    self._check_uai(index, file, element)
                elif element.tag == "INDIVIDU":
                    individu_id = element.get("ID", "").strip()
                    place = where(file.label, element)
                    children = _children(element)
                    if individu_id and individu_id not in spooled:
                        spooled.add(individu_id)
                        index.staff_rows.append(_staff_row(element, children, individu_id, place))
                    if not individu_id:
                        self._report("record.missing-field", place, "INDIVIDU/@ID")
                    elif not _named(children, "NOM_USAGE", "NOM_PATRONYMIQUE"):
                        self._report("record.missing-field", place, "INDIVIDU NOM_USAGE or PRENOM")
                        index.unnamed.add(individu_id)
                    else:
                        index.staff.setdefault(individu_id, place)
                elif element.get("CODE", "").strip():
                    kind = GroupKind.CLASS if element.tag == "DIVISION" else GroupKind.GROUP
                    code = element.get("CODE", "").strip()
                    levels = {level_of_mef(m.get("CODE", "")) for m in element.iter("MEF_APPARTENANCE")} - {None}
                    level = next(iter(levels)) if kind is GroupKind.CLASS and len(levels) == 1 else None
                    index.defined.setdefault(code, (kind, _child(element, "LIBELLE_LONG") or code, level))
                    for service in element.iter("SERVICE"):
                        subject = service.get("CODE_MATIERE", "").strip()
                        for teacher in service.iter("ENSEIGNANT"):
                            teacher_id = teacher.get("ID", "").strip()
                            index.service_rows.append((teacher_id, where(file.label, teacher), code, subject))
        for file in self._of(Root.NOMENCLATURES):
            for element in self._elements(file, {"UAJ"}, self.problems):
                self._check_uai(index, file, element)
        structure_lines: dict[str, str] = {}  # ELEVE_ID → place of its STRUCTURES_ELEVE, for messages
        for file in self._of(Root.ELEVES):
            index.has_eleves = True
            for element in self._elements(file, {"UAJ", "ELEVE", "STRUCTURES_ELEVE"}, self.problems):
                if element.tag == "UAJ":
                    self._check_uai(index, file, element)
                elif element.tag == "STRUCTURES_ELEVE":
                    eleve_id = element.get("ELEVE_ID", "").strip()
                    if eleve_id and eleve_id not in index.structures:
                        codes = tuple(_structure_codes(element))
                        index.structures[eleve_id] = codes
                        structure_lines[eleve_id] = where(file.label, element)
                else:
                    self._index_pupil(index, file, element, ines)
        for eleve_id, place in structure_lines.items():
            status = index.pupils.get(eleve_id, "?")
            codes = index.structures[eleve_id]
            if status == "?":
                self._report("ref.dangling", place, "STRUCTURES_ELEVE of an ELEVE_ID with no ELEVE")
                continue
            if any(code == INACTIVE_DIVISION for code, _ in codes) and status is None:
                index.pupils[eleve_id] = "pupil.inactive"
                self._report("pupil.inactive", place)
                continue
            if status is not None:
                continue
            if index.has_sts:
                for code, _kind in codes:
                    if code not in index.defined:
                        self._report("ref.dangling", place, "class or group not defined in STS")
            if not any(kind == "D" for _, kind in codes):
                self._report("pupil.no-class", place)
        for eleve_id, place in index.places.items():
            if index.pupils[eleve_id] is None and eleve_id not in index.structures:
                self._report("pupil.no-class", place, "no STRUCTURES_ELEVE")
        index.places.clear()
        self._index_guardians(index)
        self._check_id_spaces(index)
        if not index.uai:
            if not self.expect_uai:
                raise InputError("no file holds PARAMETRES/UAJ: pass option expect_uai", where=str(self.path))
            index.uai = self.expect_uai

    def _index_pupil(self, index: _Index, file: SourceFile, element: etree._Element, ines: set[str]) -> None:
        place = where(file.label, element)
        eleve_id = element.get("ELEVE_ID", "").strip()
        if not eleve_id:
            self._report("record.missing-field", place, "ELEVE/@ELEVE_ID")
            return
        if eleve_id in index.pupils:
            return  # the same pupil in ElevesSansAdresses and ElevesAvecAdresses
        children = _children(element)
        family = _text(children, "NOM_DE_FAMILLE") or _text(children, "NOM")
        usage = _text(children, "NOM_USAGE")
        first = _text(children, "PRENOM")
        ine = _text(children, "ID_NATIONAL").upper()
        index.pupil_rows.append(
            (
                eleve_id,
                place,
                family,
                usage,
                first,
                _text(children, "DATE_NAISS"),
                _text(children, "PRENOM2"),
                _text(children, "PRENOM3"),
                ine,
                _text(children, "CODE_SEXE"),
            )
        )
        status: _Status = None
        if _text(children, "DATE_SORTIE"):
            status = "pupil.left"
        elif not ine:
            status = "pupil.not-arrived"
        elif ine in ines:
            status = "ine.duplicate"
        elif not (family or usage):
            status = "record.missing-field"
            self._report(status, place, "pupil NOM_DE_FAMILLE")
        elif not first:
            status = "record.missing-field"
            self._report(status, place, "pupil PRENOM")
        if status in {"pupil.left", "pupil.not-arrived", "ine.duplicate"}:
            self._report(status, place)
        if ine:
            ines.add(ine)
        index.pupils[eleve_id] = status
        if status is None:
            index.places[eleve_id] = place

    def _index_guardians(self, index: _Index) -> None:
        linked: set[str] = set()
        pending: list[tuple[str, str]] = []  # (PERSONNE_ID, place) of links to check once persons are known
        for file in self._of(Root.RESPONSABLES):
            for element in self._elements(file, {"UAJ", "PERSONNE", "RESPONSABLE_ELEVE"}, self.problems):
                if element.tag == "UAJ":
                    self._check_uai(index, file, element)
                elif element.tag == "PERSONNE":
                    personne_id = element.get("PERSONNE_ID", "").strip()
                    place = where(file.label, element)
                    children = _children(element)
                    if not personne_id:
                        self._report("record.missing-field", place, "PERSONNE/@PERSONNE_ID")
                    elif not _named(children, "NOM_USAGE", "NOM_DE_FAMILLE", "NOM"):
                        self._report("record.missing-field", place, "guardian NOM_DE_FAMILLE or PRENOM")
                        index.unnamed.add(personne_id)
                    elif personne_id not in index.persons:
                        # A guardian never has an unnamed element (it would be refused), so its first
                        # named element is its first element: the one the accounts reader takes.
                        index.persons[personne_id] = place
                        index.guardian_rows.append(_guardian_row(children, personne_id))
                else:
                    place = where(file.label, element)
                    children = _children(element)
                    eleve_id = _text(children, "ELEVE_ID")
                    personne_id = _text(children, "PERSONNE_ID")
                    if not eleve_id or not personne_id:
                        self._report("record.missing-field", place, "RESPONSABLE_ELEVE ELEVE_ID or PERSONNE_ID")
                        continue
                    index.link_rows.append(
                        (
                            eleve_id,
                            personne_id,
                            _text(children, "NIVEAU_RESPONSABILITE"),
                            _text(children, "RESP_LEGAL"),
                            _text(children, "CODE_PARENTE"),
                        )
                    )
                    linked.add(personne_id)
                    status = index.pupils.get(eleve_id, "?")
                    if status == "?":
                        self._report("ref.dangling", place, "RESPONSABLE_ELEVE to an unknown ELEVE_ID")
                    elif status is None:
                        pending.append((personne_id, place))
        for personne_id, place in pending:
            if personne_id in index.unnamed:
                continue  # refused for its missing names, already reported
            if personne_id in index.persons:
                index.guardians.add(personne_id)
            else:
                self._report("ref.dangling", place, "RESPONSABLE_ELEVE to an unknown PERSONNE_ID")
        for personne_id, place in index.persons.items():
            if personne_id not in linked:
                self._report("guardian.orphan", place)

    def _check_id_spaces(self, index: _Index) -> None:
        """ELEVE_ID, PERSONNE_ID and INDIVIDU/@ID are separate numberings, but all three become person
        ids: a value used by two kinds would merge two people, so the later kind is refused."""
        pupils = {eleve_id for eleve_id, status in index.pupils.items() if status is None}
        for personne_id in sorted(index.guardians & pupils):
            index.guardians.discard(personne_id)
            self._report("record.invalid", index.persons[personne_id], "PERSONNE_ID equal to an ELEVE_ID")
        for individu_id in sorted(index.staff.keys() & (pupils | index.guardians)):
            self._report("record.invalid", index.staff.pop(individu_id), "INDIVIDU ID equal to a pupil or guardian id")
            index.unnamed.add(individu_id)  # its services are dropped silently: reported here

    # -- internals: records ----------------------------------------------------------------------
    def _date(self, text: str, place: str, iso: bool, field: str) -> dt.date | None:
        if not text:
            return None
        value = parse_date(text, iso)
        if value is None:
            self._report("date.invalid", place, f"{field}: not {'yyyy-mm-dd' if iso else 'dd/mm/yyyy'}")
        return value

    def _pupil(self, row: tuple[str, ...], uai: str) -> Person:
        eleve_id, place, family, usage, first, birth_text, prenom2, prenom3, ine, sexe = row
        if not birth_text:
            self._report("record.missing-field", place, "pupil DATE_NAISS")
        return Person(
            id=self._pid(eleve_id),
            profile=Profile.STUDENT,
            last_name=usage or family,
            first_name=first,
            birth_date=self._date(birth_text, place, False, "DATE_NAISS"),
            ine=ine or None,
            structures=(uai,),
            other_first_names=tuple(n for n in (prenom2, prenom3) if n),
            civility=sex_civility(sexe),
        )

    def _guardian(self, row: tuple[str, ...], uai: str) -> Person:
        """A guardian the index pass accepted (so it has its names)."""
        personne_id, family, usage, first, email, lc_civilite = row
        return Person(
            id=self._pid(personne_id),
            profile=Profile.GUARDIAN,
            last_name=usage or family,
            first_name=first,
            emails=(email,) if email else (),
            structures=(uai,),
            civility=civility(lc_civilite),
        )

    def _staff(self, row: tuple[Any, ...], uai: str) -> Iterator[Person | Function]:
        individu_id, place, family, usage, first, codes, disciplines, birth_text, civilite = row
        yield Person(
            id=self._pid(individu_id),
            profile=Profile.TEACHER if "ENS" in codes else Profile.STAFF,
            last_name=usage or family,
            first_name=first,
            birth_date=self._date(birth_text, place, True, "DATE_NAISSANCE"),
            structures=(uai,),
            civility=civility(civilite),
        )
        carrier = "ENS" if "ENS" in codes else (codes[0] if len(codes) == 1 else None)
        for code in dict.fromkeys(codes):
            if code == carrier and disciplines:
                for discipline in dict.fromkeys(disciplines):
                    yield Function(person_id=self._pid(individu_id), uai=uai, code=code, discipline=discipline)
            else:
                yield Function(person_id=self._pid(individu_id), uai=uai, code=code)


def _staff_row(
    element: etree._Element, children: dict[object, etree._Element], individu_id: str, place: str
) -> tuple[Any, ...]:
    codes = [text_of(f).strip() for f in element.iter("FONCTION") if text_of(f).strip()]
    disciplines = [d.get("CODE", "").strip() for d in element.iter("DISCIPLINE") if d.get("CODE", "").strip()]
    return (
        individu_id,
        place,
        _text(children, "NOM_PATRONYMIQUE"),
        _text(children, "NOM_USAGE"),
        _text(children, "PRENOM"),
        tuple(codes),
        tuple(disciplines),
        _text(children, "DATE_NAISSANCE"),
        _text(children, "CIVILITE"),
    )


def _guardian_row(children: dict[object, etree._Element], personne_id: str) -> tuple[str, ...]:
    return (
        personne_id,
        _text(children, "NOM_DE_FAMILLE") or _text(children, "NOM"),
        _text(children, "NOM_USAGE"),
        _text(children, "PRENOM"),
        _text(children, "MEL"),
        _text(children, "LC_CIVILITE"),
    )
