"""The ``aaf`` connector: a source reading AAF ``ficAlimMENESR`` bundles (1D and 2D, full and delta).

Location: a folder, a ``.tgz``/``.tar.gz`` or a ``.zip`` holding the bundle's files
(``<prefix>_Complet_<YYYYMMDD>_<Cat>_<NNNN>.xml``; ``Delta`` in a name marks a delta bundle).
Archives are read through :mod:`ent_migrate.archive` (unsafe members are refused and reported),
XML through :mod:`ent_migrate.xmlsafe` (no entity expansion, nothing fetched, flat memory).

Options: :class:`AafOptions` (``ent-migrate connectors about aaf`` lists them). The engine's lookup of
people an earlier run knew arrives through the ``delta`` capability (:meth:`AafConnector.use_known_people`):
a delta pupil referencing a guardian the delta does not carry is not dangling when the state store
knows that guardian.

Reading is faithful: a request over ``max_record_bytes`` is skipped (``record.too-large``), elements
other than requests are counted (``xml.unexpected-element``), and when a file stops early (malformed,
refused prolog or encoding) that problem is reported, not its consequences (no ``uai.mismatch`` for an
unread structures file, no ``guardian.orphan`` for unread pupils). A 1D and a 2D feed read together
give each shared guardian once. docs/problems.md says what happens to the record for every code.

A location is one bundle (full or delta). The first ``read_*`` streams the whole bundle (one pass; only
small indexes are kept), yields its own records and spools the other readers' to a temporary file
(:mod:`.cache`), which the next readers stream back while the bundle is unchanged; every read leaves
the problems of that complete pass in :attr:`problems`.

Delta bundles: a ``modifyRequest`` is read like an ``addRequest`` whose listed attributes carry their
full new value sets (operation="replace"), so the links it lists *replace* the entity's links; one
that lists no name attribute yields only the links it lists (never a person with blank names); a
``deleteRequest`` is never applied — it is counted and listed as ``delete.not-applied``: a delta
never deletes silently. (No ``read_changes``: turning a delta into deletions of links needs the
previous state, which is the pipeline's state store, not this reader.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from ent_migrate.archive import Archive, Member
from ent_migrate.connectors.aaf.cache import KIND_OF, CompletePass, RecordSpool
from ent_migrate.connectors.aaf.mapping import Mapper, MapperOptions
from ent_migrate.connectors.aaf.parse import iter_entries
from ent_migrate.connectors.aaf.values import FileName, parse_file_name
from ent_migrate.contract import Capability, CheckResult, Connector, ConnectorOptions, KnownPeople, Role
from ent_migrate.errors import ConfigError, EntMigrateError, UnreachableError
from ent_migrate.model import (
    Function,
    Group,
    Guardianship,
    Membership,
    Person,
    Record,
    Structure,
)
from ent_migrate.options import option
from ent_migrate.problems import Problems
from ent_migrate.uai import check_uai
from ent_migrate.xmlsafe import FEED_SIZE, MAX_RECORD_BYTES, export_signature

__all__ = ["AafConnector", "AafOptions"]

#: files that travel with a bundle and are not data (never loaded: the DTD is not trusted either)
_COMPANIONS = (".dtd", ".md5", ".sha256", ".txt", ".log")
#: problems after which the rest of a file is not read
_STOP_CODES = ("xml.malformed", "xml.dtd-forbidden", "encoding.unsupported")


@dataclasses.dataclass(frozen=True, slots=True)
class AafOptions(ConnectorOptions):
    academy_prefix: str = option(
        "", "prefix of every jointure, e.g. 'AC-RENNES$' (jointures are unique only within one académie)"
    )
    delta: bool | None = option(None, "read as a delta (true) or a complete bundle (false); default: from file names")
    known_structures: Mapping[str, str] = option(
        help="structure jointure -> UAI, for structures a delta bundle references but does not carry",
        empty_table=True,
    )
    expect_uai: str | None = option(None, "a UAI the bundle must hold (inspect --expect-uai); uai.mismatch otherwise")
    max_record_bytes: int = option(
        MAX_RECORD_BYTES, "the largest request read, in bytes of XML; a bigger one is skipped as record.too-large"
    )

    def __post_init__(self) -> None:
        if self.max_record_bytes < FEED_SIZE:
            raise ValueError(f"option max_record_bytes must be at least {FEED_SIZE}, not {self.max_record_bytes}")
        if self.expect_uai is not None and check_uai(self.expect_uai.strip().upper()) is not None:
            raise ValueError(f"option expect_uai: {check_uai(self.expect_uai.strip().upper())}")
        for jointure, uai in self.known_structures.items():
            reason = check_uai(uai.strip().upper())
            if reason is not None:
                raise ValueError(f"option known_structures: the UAI of jointure {jointure!r} is {reason}")


#: root elements of the other académie exports, to say which connector reads a file given to aaf:
_OTHER_ROOTS = {
    "BEE_ELEVES": "a SIECLE BEE_ELEVES file: use siecle:",
    "BEE_RESPONSABLES": "a SIECLE BEE_RESPONSABLES file: use siecle:",
    "BEE_NOMENCLATURES": "a SIECLE BEE_NOMENCLATURES file: use siecle:",
    "STS_EDT": "an STS-web STS_EDT file: use siecle:",
    "ficAlimMENESR": "an AAF file whose name does not follow <prefix>_Complet|Delta_<date>_<Cat>_<NNNN>.xml",
}
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*)")


def _kind_hint(member: Member) -> str | None:
    """What an unrecognised file looks like, from its first bytes (never parsed: only its root's name)."""
    try:
        with member.open() as stream:
            head = stream.read(8192)
    except (OSError, EntMigrateError):
        return None
    if member.name.lower().endswith(".csv") and b";" in head.split(b"\n", 1)[0]:
        return "a CSV extraction (ONDE/BE1D?): use onde:"
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S)
    found = _ROOT.search(body)
    if found is None:
        return None
    root = found.group(1).decode("ascii", "replace")
    hint = _OTHER_ROOTS.get(root)
    return f"this looks like {hint}" if hint else f"root element {root[:40]}"


class AafConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "aaf"
    summary: ClassVar[str] = "AAF ficAlimMENESR bundles (1D/2D, full or delta) from a folder, .tgz or .zip."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS, Capability.DELTA}
    )
    #: the delta flag the first pass decides comes back with the problems (read_outcome); the spools
    #: do not (a later read in this process makes its own pass)
    reads_in_child: ClassVar[bool] = True
    location_help: ClassVar[str] = "aaf:/path/to/folder, aaf:/path/ENT2D.20240916.tgz or aaf:/path/bundle.zip"
    fixture_writer: ClassVar[tuple[str, str] | None] = ("ent_migrate.connectors.aaf.writer:write_aaf", "per-degree")
    Options: ClassVar[type[ConnectorOptions]] = AafOptions

    options: AafOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not location:
            raise ConfigError("aaf needs a location: aaf:/path/to/folder-or-archive")
        self.path = Path(location).expanduser()
        self.prefix = self.options.academy_prefix
        self.known_structures = {k: v.strip().upper() for k, v in self.options.known_structures.items()}
        expect_uai = self.options.expect_uai
        self.expect_uai = expect_uai.strip().upper() if expect_uai and expect_uai.strip() else None
        self._known_people: KnownPeople | None = None
        self._read_as_delta: bool | None = None  # decided by the first pass (file names or the option)
        self._complete: CompletePass | None = None  # the last complete pass's spools

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        if not self.path.exists():
            return CheckResult(reachable=False, authenticated=None, detail=f"{self.path} does not exist")
        return CheckResult(reachable=True, authenticated=None, detail=str(self.path))

    def close(self) -> None:
        if self._complete is not None:
            self._complete.close()
            self._complete = None

    def person_ids_are_jointures(self) -> bool:
        """A person's id is its ``ENTPersonJointure`` (prefixed with the académie's ``prefix`` when set)."""
        return True

    def is_partial(self) -> bool:
        """A delta bundle is a part: plan never turns what it lacks into deletions."""
        if self._read_as_delta is not None:
            return self._read_as_delta
        delta = self.options.delta
        return delta if delta is not None else "Delta" in self.path.name

    def use_known_people(self, known: KnownPeople) -> None:
        """Guardians an earlier run knew: a delta pupil may link to one the delta does not carry."""
        if known is not self._known_people:
            self._known_people = known
            self._complete = None  # a spooled pass was resolved against the previous lookup

    def read_outcome(self) -> object:
        """The problems, and whether the pass read the bundle as a delta (its file names may say so)."""
        return self.problems, self._read_as_delta

    def adopt_read_outcome(self, outcome: object) -> None:
        problems, delta = cast(tuple[Problems, bool | None], outcome)
        super().adopt_read_outcome(problems)
        self._read_as_delta = delta
        self._complete = None  # the child's spools stayed with it

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        return cast(Iterator[Structure | Person | Function], self._read(Capability.ACCOUNTS))

    def read_groups(self) -> Iterator[Group]:
        return cast(Iterator[Group], self._read(Capability.GROUPS))

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        return cast(Iterator[Membership | Guardianship], self._read(Capability.RELATIONS))

    # -- internals -----------------------------------------------------------------------------
    def _read(self, capability: Capability) -> Iterator[Record]:
        """*capability*'s records: from the last complete pass's spool if the bundle is unchanged,
        else from a new pass that spools the other capabilities' records."""
        current = export_signature(self.path)
        done = self._complete
        if done is not None and done.signature == current and capability in done.spools:
            yield from done.replay(capability)
            self.problems = done.problems_copy()
            return
        spools = {kind: RecordSpool() for kind in set(KIND_OF.values()) if kind is not capability}
        complete = False
        try:
            for record in self._scan():
                kind = KIND_OF[type(record)]
                if kind is capability:
                    yield record
                else:
                    spools[kind].append(record)
            complete = True
        finally:
            if complete:  # a pass left half-way (or failed) spooled only part of the bundle
                # The previous pass's spools are dropped, not closed: a replay of them may still be
                # under way; their anonymous files go with their last reference.
                self._complete = CompletePass(current, spools, self.problems)
                self.problems = self._complete.problems_copy()
            else:
                for spool in spools.values():
                    spool.close()

    def _files(self, problems: Problems, archive: Archive) -> list[tuple[FileName, Member]]:
        found: list[tuple[FileName, Member]] = []
        for member in archive:
            parsed = parse_file_name(member.name)
            if parsed is not None:
                found.append((parsed, member))
            elif not member.name.lower().endswith(_COMPANIONS):
                problems.add("file.unknown", member.name, _kind_hint(member))
        found.sort(key=lambda pair: pair[0].sort_key)
        return found

    def _scan(self) -> Iterator[Record]:
        """One pass over the bundle, in category order; classes and groups come last."""
        problems = Problems()
        if not self.path.exists():
            raise UnreachableError(f"{self.path}: no such file or folder (check the spec's location)")
        with contextlib.closing(Archive(self.path, on_problem=problems.add)) as archive:
            files = self._files(problems, archive)
            delta = self.options.delta
            if delta is None:
                delta = "Delta" in self.path.name or any(f.delta for f, _ in files)
            self._read_as_delta = delta
            options = MapperOptions(self.prefix, delta, self._known_people, self.known_structures)
            mapper = Mapper(options, problems)
            for file, member in files:
                stops = _stops(problems)
                with member.open() as stream:
                    for entry in iter_entries(stream, file.name, problems, self.options.max_record_bytes):
                        if entry.op == "delete":  # never applied by a full read: counted, listed
                            problems.add("delete.not-applied", entry.where, entry.category)
                            continue
                        yield from mapper.records(entry)
                if _stops(problems) != stops:  # the file stopped early: that problem is the one to report
                    mapper.incomplete.add(file.category)
            yield from mapper.finish()
            complete = "EtabEducNat" not in mapper.incomplete
            if self.expect_uai and self.expect_uai not in mapper.structure_uais and not delta and complete:
                problems.add("uai.mismatch", self.path.name, "the expected UAI is not among the structures")
        self.problems = problems  # the complete pass's problems (a partial pass keeps the previous ones)


def _stops(problems: Problems) -> int:
    """How many times reading a file stopped early so far."""
    return sum(problems.count(code) for code in _STOP_CODES)
