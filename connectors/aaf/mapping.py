"""AAF requests → canonical records, in one streaming pass over a bundle read in category order.

State kept across the pass is bounded by the number of *structures and classes*, plus 64-bit hashes
for guardian ids and INEs (:class:`~.values.CompactIds`) and each guardian's position packed in an
int (for ``guardian.orphan``): never the records themselves, nor one string per person — at a million
accounts every byte per person counts.

Mapping (FORMATS.md §3):

* EtabEducNat → :class:`Structure` (``uai`` from ENTStructureUAI, ``jointure`` kept); its
  ENTStructureClasses / ENTStructureGroupes values (``code$libellé``, optionally ``$level`` — an
  extension our fixture writer uses, real feeds have two fields) define the classes and groups.
  A structure that lists none has its classes defined implicitly by the people who reference them.
* Eleve → student; PersRelEleve → guardian; PersEducNat → teacher when a function is ENS or DOC
  (or, with no function at all, ENTPersonCategorieEnseignant = O), else staff.
* Pupils' ENTEleveClasses/ENTEleveGroupes (2D ``struct$code``) and ENTPersonClasses/ENTPersonGroupes
  (1D ``struct$codeType$libType$classId$classLib``, which also define the class) → Membership;
  teachers' ENTAuxEnsClasses/Groupes and …Matieres (``struct$code$matière`` → ``subject``).
* ENTElevePersRelEleve ``parent$lien$respFinancier$respLégal$contact$paiement`` → Guardianship with
  ``legal_level`` = respLégal (1 or 2), else 3 when contact, else 0; old kinship codes (1 père,
  2 mère…) are translated to the BCN codes (20, 10…). 1D ``ENTEleveAutoriteParentale``
  (``parent$lien``) and the legacy ENTElevePere/Mere/Parents fill in parents not listed there.
* ENTPersonFonctions ``struct$code$libellé$discipline$libellé discipline`` → Function
  (``label`` is the discipline's label when there is a discipline, else the function's).
* A structure reference is a jointure (académie-prefixed when ``prefix`` is set) or, leniently, the
  structure's UAI; an unknown one is ``ref.dangling`` and the link is not emitted (the person is) —
  ``ref.outside-export`` (a warning) for a staff member, who often also works in a structure of another
  export. A structure's UAI is checked (``uai.invalid``: kept as read).
* A guardian listed in two files (the 1D and the 2D feed of one family) is one person: yielded once;
  a second copy with other values is ``person.duplicate`` (the first is kept). A pupil listed as their
  own guardian is ``record.invalid`` (that link is not emitted). The engine's known-people lookup is
  consulted for deltas only: a complete bundle holds every guardian it references.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping

from ent_migrate.connectors.aaf.parse import Entry
from ent_migrate.connectors.aaf.values import CompactIds, kinship_code, legal_level, parse_date, split_dollar
from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    Profile,
    Record,
    Structure,
)
from ent_migrate.problems import Problems
from ent_migrate.uai import check_uai

__all__ = ["PROFILE_OF_CATEGORY", "TEACHING_FUNCTIONS", "Mapper", "MapperOptions"]

#: function codes that make a PersEducNat a teacher
TEACHING_FUNCTIONS = frozenset({"ENS", "DOC"})

#: person category → profile (a PersEducNat becomes a teacher by its functions, see TEACHING_FUNCTIONS)
PROFILE_OF_CATEGORY = {"Eleve": Profile.STUDENT, "PersRelEleve": Profile.GUARDIAN, "PersEducNat": Profile.STAFF}
# (attribute, group kind, teacher subject position or None); 2D shape is struct$code[$subject].
_PUPIL_LINKS = (
    ("ENTEleveClasses", GroupKind.CLASS),
    ("ENTEleveGroupes", GroupKind.GROUP),
    ("ENTPersonClasses", GroupKind.CLASS),
    ("ENTPersonGroupes", GroupKind.GROUP),
)
_TEACHER_SUBJECT_LINKS = (
    ("ENTAuxEnsClassesMatieres", GroupKind.CLASS),
    ("ENTAuxEnsGroupesMatieres", GroupKind.GROUP),
)
_TEACHER_PLAIN_LINKS = (
    ("ENTAuxEnsClasses", GroupKind.CLASS),
    ("ENTAuxEnsGroupes", GroupKind.GROUP),
    ("ENTPersonClasses", GroupKind.CLASS),
    ("ENTPersonGroupes", GroupKind.GROUP),
)
#: a modifyRequest listing none of these carries no identity: only the links it lists are read
_IDENTITY_ATTRS = ("sn", "ENTPersonNom", "givenName", "ENTPersonPrenom")
#: guardian_where value of a guardian a pupil links to; positions pack (line, file index) in FILE_BITS
_REFERENCED = -1
_FILE_BITS = 20
_FILE_MASK = (1 << _FILE_BITS) - 1
# A guardian's entry also packs 32 bits of its record's hash above the position, to tell a second
# identical copy (the 1D and 2D feeds) from a conflicting one without a second dict per guardian.
_PRINT_SHIFT = 64
_PRINT_MASK = (1 << 32) - 1
_POSITION_MASK = (1 << _PRINT_SHIFT) - 1
_LEGACY_PARENTS = (("ENTElevePere", "20"), ("ENTEleveMere", "10"), ("ENTEleveParents", None))


@dataclasses.dataclass(frozen=True)
class MapperOptions:
    prefix: str = ""  # académie prefix of jointures, e.g. "AC-RENNES$"
    delta: bool = False
    #: people an earlier run knew (a delta pupil may reference a guardian absent from the delta)
    known_people: Callable[[str], bool] | None = None
    #: structure jointure → UAI for structures absent from a delta bundle
    known_structures: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class _Link:
    legal: int | None
    kinship: str | None


class Mapper:
    """Feed entries in bundle order with :meth:`records`; call :meth:`finish` once at the end."""

    def __init__(self, options: MapperOptions, problems: Problems) -> None:
        self.options = options
        self.problems = problems
        self.uai_of: dict[str, str] = {}  # structure jointure → UAI
        self.groups: dict[str, Group] = {}  # "UAI$code" → group (defined or implied)
        self.explicit: set[str] = set()  # UAIs whose structure record lists its classes/groups
        self.structure_uais: set[str] = set()  # UAIs of the structures this bundle holds
        # guardian id hash → its position (see _position) or _REFERENCED once a pupil links to it: one
        # dict is both the set of guardians and what guardian.orphan needs
        self.guardian_where: dict[int, int] = {}
        self.referenced_early: set[int] = set()  # linked before being read (only via known_people)
        self.ines: dict[int, int] = {}  # INE hash → person id hash
        #: categories with a file that stopped early (malformed, refused): what they lack is not reported
        #: as if the export lacked it (no orphan guardian for unread pupils)
        self.incomplete: set[str] = set()
        self._files: list[str] = []  # file names, indexed by positions
        self._file_index: dict[str, int] = {}

    # -- helpers -------------------------------------------------------------------------------
    def jointure_id(self, raw: str) -> str:
        """*raw* with the académie prefix (unless it already has it)."""
        raw = raw.strip()
        prefix = self.options.prefix
        return raw if not raw or not prefix or raw.startswith(prefix) else prefix + raw

    def _uai(self, jointure: str) -> str | None:
        """The UAI of a structure reference: a jointure, or (leniently) the UAI itself."""
        key = self.jointure_id(jointure)
        found = self.uai_of.get(key) or self.options.known_structures.get(key)
        if found is None and jointure.strip() in self.structure_uais:
            found = jointure.strip()
        return found

    def _split(self, value: str) -> list[str]:
        return split_dollar(value, self.options.prefix)

    def _problem(self, code: str, entry: Entry, detail: str | None = None) -> None:
        self.problems.add(code, entry.where, detail)

    @staticmethod
    def _outside(entry: Entry) -> str:
        """The code of a reference to a structure this bundle does not hold: a staff member's other
        structures are often in another export (a warning); a pupil's must be here (an error)."""
        return "ref.outside-export" if entry.category == "PersEducNat" else "ref.dangling"

    # -- entry point -----------------------------------------------------------------------------
    def records(self, entry: Entry) -> Iterator[Record]:
        """Records of one add/modify request (modify = full new value set of each attribute it lists)."""
        if entry.category == "EtabEducNat":
            structure = self._structure(entry)
            if structure is not None:
                yield structure
        elif entry.category in PROFILE_OF_CATEGORY:
            yield from self._person(entry)
        elif entry.category == "MatiereEducNat":
            if not (entry.first("ENTMatJointure") or entry.ident):
                self._problem("record.missing-field", entry, "ENTMatJointure")
        elif entry.category == "MefEducNat":
            if not (entry.first("ENTMefJointure") or entry.ident):
                self._problem("record.missing-field", entry, "ENTMefJointure")
        else:
            self._problem("record.invalid", entry, "unknown category")

    def _position(self, entry: Entry) -> int:
        """``entry.where`` as one int (line and file index), decoded by :meth:`_where`."""
        index = self._file_index.get(entry.file)
        if index is None:
            index = self._file_index[entry.file] = len(self._files)
            self._files.append(entry.file)
        return entry.line << _FILE_BITS | index

    def _where(self, position: int) -> str:
        position &= _POSITION_MASK  # without the guardian's print (see _first_copy)
        return f"{self._files[position & _FILE_MASK]}:{position >> _FILE_BITS}"

    def finish(self) -> Iterator[Group]:
        """After the pass: guardians no pupil links to, then every class and group."""
        # A delta often carries a guardian alone (a new phone number); with pupils left unread, any
        # guardian may look orphan: the stopped file's problem says it all.
        if not self.options.delta and "Eleve" not in self.incomplete:
            for hashed, position in self.guardian_where.items():
                if position != _REFERENCED and hashed not in self.referenced_early:
                    self.problems.add("guardian.orphan", self._where(position))
        for key in sorted(self.groups):
            yield self.groups[key]

    # -- structures ------------------------------------------------------------------------------
    def _structure(self, entry: Entry) -> Structure | None:
        jointure = self.jointure_id(entry.first("ENTStructureJointure") or entry.ident)
        uai = entry.first("ENTStructureUAI", "ENTEtablissementUAI").strip().upper()
        if not uai:
            self._problem("uai.missing", entry, "ENTStructureUAI")
            return None
        invalid = check_uai(uai)
        if invalid is not None:  # kept under the UAI as read: it is the key the source uses
            self._problem("uai.invalid", entry, f"ENTStructureUAI: {invalid}")
        if not jointure:
            self._problem("record.missing-field", entry, "ENTStructureJointure")
        else:
            self.uai_of[jointure] = uai
        self.structure_uais.add(uai)
        parts = entry.first("ENTStructureNomCourant").split("$")
        name = parts[1] if len(parts) == 3 else "$".join(parts)
        city = entry.first("l", "ENTStructureVille", "ENTEcoleCommune") or (parts[2] if len(parts) == 3 else "")
        if not name:
            self._problem("record.missing-field", entry, "ENTStructureNomCourant")
        for attr, kind in (("ENTStructureClasses", GroupKind.CLASS), ("ENTStructureGroupes", GroupKind.GROUP)):
            for value in entry.values(attr):
                fields = value.split("$")
                if not fields[0]:
                    self._problem("record.invalid", entry, attr)
                    continue
                self.explicit.add(uai)
                level = fields[2] if len(fields) > 2 and fields[2] else None
                group = Group(
                    uai=uai, code=fields[0], group_kind=kind, name=fields[1] if len(fields) > 1 else "", level=level
                )
                self.groups[group.key] = group
        return Structure(
            uai=uai, name=name, type=entry.first("ENTStructureTypeStruct"), jointure=jointure or None, city=city or None
        )

    # -- people ----------------------------------------------------------------------------------
    def _person(self, entry: Entry) -> Iterator[Record]:
        pid = self.jointure_id(entry.first("ENTPersonJointure") or entry.ident)
        if not pid:
            self._problem("record.missing-field", entry, "ENTPersonJointure")
            return
        functions: list[Function] = []
        codes: set[str] = set()
        if entry.category == "PersEducNat":
            functions, codes = self._functions(entry, pid)
        # A delta's modifyRequest may list only the attributes that changed (a class, a phone number):
        # without the identity attributes it describes links, not a person to overwrite with blanks.
        if not (entry.op == "modify" and not any(name in entry.attrs for name in _IDENTITY_ATTRS)):
            person = self._identity(entry, pid, codes)
            if entry.category != "PersRelEleve" or self._first_copy(entry, pid, person):
                yield person
        elif entry.category == "PersRelEleve":
            self._first_copy(entry, pid, None)
        yield from functions
        if entry.category == "Eleve":
            yield from self._memberships(entry, pid, _PUPIL_LINKS, subject_field=False)
            yield from self._guardianships(entry, pid)
        elif entry.category == "PersEducNat":
            yield from self._teacher_memberships(entry, pid)

    def _first_copy(self, entry: Entry, pid: str, person: Person | None) -> bool:
        """Record a guardian's position (the last one counts, for guardian.orphan); True unless the same
        guardian was read before in this pass (the 1D and the 2D feed both list a family's parents):
        an identical copy is silently the same person, another one is person.duplicate."""
        hashed = CompactIds.hash(pid)
        previous = self.guardian_where.get(hashed)
        if previous == _REFERENCED:
            return True  # linked before its own request (a delta's known guardian): nothing to compare
        if person is not None:
            printed = hash(person) & _PRINT_MASK
        else:  # a delta's links-only request: no values to compare, keep the first copy's print
            printed = previous >> _PRINT_SHIFT if previous is not None else 0
        self.guardian_where[hashed] = printed << _PRINT_SHIFT | self._position(entry)
        if previous is None:
            return True
        if person is not None and previous >> _PRINT_SHIFT != printed:
            self._problem("person.duplicate", entry, "PersRelEleve read before with other values")
        return False

    def _identity(self, entry: Entry, pid: str, codes: set[str]) -> Person:
        profile = PROFILE_OF_CATEGORY[entry.category]
        last = entry.first("sn", "ENTPersonNom")
        first = entry.first("givenName", "ENTPersonPrenom")
        if not last:
            self._problem("record.missing-field", entry, "sn")
        if not first:
            self._problem("record.missing-field", entry, "givenName")
        birth = None
        birth_text = entry.first("ENTPersonDateNaissance").strip()
        if birth_text:
            try:
                birth = parse_date(birth_text)
            except ValueError:
                self._problem("date.invalid", entry, "ENTPersonDateNaissance")
        elif profile is Profile.STUDENT:
            self._problem("record.missing-field", entry, "ENTPersonDateNaissance")
        structures: list[str] = []
        for jointure in entry.values("ENTPersonStructRattach"):
            uai = self._uai(jointure)
            if uai is None:
                self._problem(self._outside(entry), entry, "ENTPersonStructRattach")
            elif uai not in structures:
                structures.append(uai)
        if profile is not Profile.GUARDIAN and not entry.values("ENTPersonStructRattach"):
            self._problem("uai.missing", entry, "ENTPersonStructRattach")
        ine = None
        if profile is Profile.STUDENT:
            ine = entry.first("ENTEleveINE").strip().upper() or None
            self._check_ine(entry, pid, ine)
        if entry.category == "PersEducNat":
            teaching = entry.first("ENTPersonCategorieEnseignant").strip().upper() == "O"
            if codes & TEACHING_FUNCTIONS or (not codes and teaching):
                profile = Profile.TEACHER
        return Person(
            id=pid,
            profile=profile,
            last_name=last,
            first_name=first,
            birth_date=birth,
            ine=ine,
            emails=tuple(entry.values("mail", "ENTPersonMail")),
            structures=tuple(structures),
            other_first_names=tuple(entry.values("ENTPersonAutresPrenoms")),
            civility=entry.first("personalTitle", "ENTPersonCivilite") or None,
        )

    def _check_ine(self, entry: Entry, pid: str, ine: str | None) -> None:
        if ine is None:
            self._problem("ine.missing", entry)
            return
        hashed, owner = CompactIds.hash(ine), CompactIds.hash(pid)
        seen = self.ines.setdefault(hashed, owner)
        if seen != owner:
            self._problem("ine.duplicate", entry)

    def _functions(self, entry: Entry, pid: str) -> tuple[list[Function], set[str]]:
        out: dict[str, Function] = {}
        codes: set[str] = set()
        for value in entry.values("ENTPersonFonctions"):
            parts = self._split(value) + [""] * 4
            code = parts[1].strip()
            if not code:
                self._problem("record.invalid", entry, "ENTPersonFonctions")
                continue
            codes.add(code)
            uai = self._uai(parts[0])
            if uai is None:
                self._problem(self._outside(entry), entry, "ENTPersonFonctions structure")
                continue
            discipline = parts[3] or None
            label = (parts[4] if discipline else parts[2]) or None
            function = Function(person_id=pid, uai=uai, code=code, discipline=discipline, label=label)
            out.setdefault(function.key, function)
        return list(out.values()), codes

    # -- links -----------------------------------------------------------------------------------
    def _link(
        self, entry: Entry, pid: str, parts: list[str], kind: GroupKind, subject: str | None
    ) -> Membership | None:
        """A membership from ``struct$code`` (2D) or ``struct$type$lib$classId$classLib`` (1D)."""
        uai = self._uai(parts[0])
        if uai is None:
            self._problem(self._outside(entry), entry, "class or group structure")
            return None
        defining = len(parts) >= 5  # the 1D shape carries the class itself
        code = (parts[3] if defining else parts[1]).strip()
        if not code:
            self._problem("record.invalid", entry, "class or group value")
            return None
        key = f"{uai}${code}"
        if key not in self.groups:
            if uai in self.explicit and not defining:
                self._problem("ref.dangling", entry, "class or group the structure does not define")
                return None
            # A structure of this bundle that lists no classes: its people define them. A structure
            # known only from outside a delta (known_structures): its classes exist already.
            if defining or uai in self.structure_uais:
                name = parts[4] if defining else code
                self.groups[key] = Group(uai=uai, code=code, group_kind=kind, name=name)
        return Membership(person_id=pid, uai=uai, group_code=code, subject=subject)

    def _memberships(
        self, entry: Entry, pid: str, links: tuple[tuple[str, GroupKind], ...], subject_field: bool
    ) -> Iterator[Membership]:
        seen: set[str] = set()
        for attr, kind in links:
            for value in entry.values(attr):
                parts = self._split(value)
                if len(parts) < 2:
                    self._problem("record.invalid", entry, attr)
                    continue
                subject = (parts[2] or None) if subject_field and len(parts) > 2 else None
                membership = self._link(entry, pid, parts, kind, subject)
                if membership is not None and membership.key not in seen:
                    seen.add(membership.key)
                    yield membership

    def _teacher_memberships(self, entry: Entry, pid: str) -> Iterator[Membership]:
        # A class taught with a subject is listed in both ENTAuxEnsClasses and …ClassesMatieres; the
        # plain entry only yields a membership when no subject line covers that class.
        covered: set[str] = set()
        for membership in self._memberships(entry, pid, _TEACHER_SUBJECT_LINKS, subject_field=True):
            covered.add(f"{membership.uai}${membership.group_code}")
            yield membership
        for membership in self._memberships(entry, pid, _TEACHER_PLAIN_LINKS, subject_field=False):
            if f"{membership.uai}${membership.group_code}" not in covered:
                yield membership

    def _guardianships(self, entry: Entry, pid: str) -> Iterator[Guardianship]:
        links: dict[str, _Link] = {}
        for value in entry.values("ENTElevePersRelEleve"):
            parts = self._split(value) + [""] * 5
            gid = self.jointure_id(parts[0])
            if not gid:
                self._problem("record.invalid", entry, "ENTElevePersRelEleve")
                continue
            legal = legal_level(parts[3], parts[4])
            link = links.get(gid)
            if link is None:
                links[gid] = _Link(legal, kinship_code(parts[1]))
            else:  # the same parent listed twice with other flags: keep the strongest responsibility
                if legal and (not link.legal or legal < link.legal):
                    link.legal = legal
                link.kinship = link.kinship or kinship_code(parts[1])
        for value in entry.values("ENTEleveAutoriteParentale"):
            parts = [*self._split(value), ""]
            gid = self.jointure_id(parts[0])
            if gid and gid not in links:
                links[gid] = _Link(1, kinship_code(parts[1]))
        for attr, kinship in _LEGACY_PARENTS:
            for value in entry.values(attr):
                gid = self.jointure_id(value)
                if gid and gid not in links:
                    links[gid] = _Link(None, kinship)
        # A complete bundle holds every guardian it references; only a delta may reference one an
        # earlier run knew. (Asking the state store for a complete bundle let a pupil listed as their own
        # guardian through on the second run: the first had stored the pupil.)
        known = self.options.known_people if self.options.delta else None
        for gid, link in links.items():
            if gid == pid:
                self._problem("record.invalid", entry, "a pupil listed as their own guardian")
                continue
            hashed = CompactIds.hash(gid)
            if hashed not in self.guardian_where:
                if not (known is not None and known(gid)):
                    unread = "PersRelEleve" in self.incomplete
                    detail = "guardian absent (a PersRelEleve file was not read to its end)" if unread else None
                    self._problem("ref.dangling", entry, detail or "guardian absent from the source")
                    continue
                self.referenced_early.add(hashed)
            else:
                self.guardian_where[hashed] = _REFERENCED
            yield Guardianship(guardian_id=gid, student_id=pid, legal_level=link.legal, kinship=link.kinship)
