"""The ``aaf`` connector: a source reading AAF ``ficAlimMENESR`` bundles (1D and 2D, full and delta).

Location: a folder, a ``.tgz``/``.tar.gz`` or a ``.zip`` holding the bundle's files
(``<prefix>_Complet_<YYYYMMDD>_<Cat>_<NNNN>.xml``; ``Delta`` in a name marks a delta bundle).
Archives are read through :mod:`ent_migrate.archive` (unsafe members are refused and reported),
XML through :mod:`ent_migrate.xmlsafe` (no entity expansion, nothing fetched, flat memory).

Options (``[source.NAME]`` in the config, or keyword options in tests):

``academy_prefix``    prefix for every jointure, e.g. ``AC-RENNES$`` (jointures are unique only within
                      one académie); already-prefixed values are left alone
``delta``             force delta (True) or full (False) reading; default: guessed from the file names
``known_guardians``   (or ``known_people``, which the pipeline sets to a state-store lookup)
                     a callable ``id -> bool`` or a collection of ids: guardians the target already
                      has, so a delta pupil referencing one absent from the delta is not dangling
``known_structures``  a mapping structure jointure → UAI for structures absent from a delta bundle
``expect_uai``        a UAI the bundle must hold (``inspect --expect-uai``); ``uai.mismatch`` otherwise

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
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from ent_migrate.archive import Archive, Member
from ent_migrate.connectors.aaf.cache import KIND_OF, CompletePass, RecordSpool
from ent_migrate.connectors.aaf.mapping import Mapper, MapperOptions
from ent_migrate.connectors.aaf.parse import iter_entries
from ent_migrate.connectors.aaf.values import FileName, parse_file_name
from ent_migrate.contract import Capability, CheckResult, Connector, Role
from ent_migrate.errors import ConfigError, InputError
from ent_migrate.model import (
    Function,
    Group,
    Guardianship,
    Membership,
    Person,
    Record,
    Structure,
)
from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import export_signature

__all__ = ["AafConnector"]

#: files that travel with a bundle and are not data (never loaded: the DTD is not trusted either)
_COMPANIONS = (".dtd", ".md5", ".sha256", ".txt", ".log")


class AafConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "aaf"
    summary: ClassVar[str] = "AAF ficAlimMENESR bundles (1D/2D, full or delta) from a folder, .tgz or .zip."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    )
    location_help: ClassVar[str] = "aaf:/path/to/folder, aaf:/path/ENT2D.20240916.tgz or aaf:/path/bundle.zip"

    # -- configuration -------------------------------------------------------------------------
    def __init__(self, location: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(location, options)
        if not location:
            raise ConfigError("aaf needs a location: aaf:/path/to/folder-or-archive")
        self.path = Path(location).expanduser()
        prefix = self.options.get("academy_prefix") or ""
        if not isinstance(prefix, str):
            raise ConfigError("aaf option academy_prefix must be a string such as 'AC-RENNES$'")
        delta = self.options.get("delta")
        if delta is not None and not isinstance(delta, bool):
            raise ConfigError("aaf option delta must be true or false")
        self.prefix = prefix
        self._delta_option = delta
        self._read_as_delta: bool | None = None  # decided by the first pass (file names or the option)
        # known_people is what the pipeline passes every source: the people its state store already holds.
        known = self.options.get("known_guardians", self.options.get("known_people"))
        self.known_guardians = _membership_test(known, "known_guardians")
        structures = self.options.get("known_structures") or {}
        if not isinstance(structures, Mapping):
            raise ConfigError("aaf option known_structures must map structure jointures to UAIs")
        self.known_structures = {str(k): str(v) for k, v in structures.items()}
        expect_uai = self.options.get("expect_uai")
        self.expect_uai = str(expect_uai).strip().upper() if expect_uai else None
        self._complete: CompletePass | None = None  # the last complete pass's spools

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def partial(self) -> bool:
        """A delta bundle is a part: plan never turns what it lacks into deletions."""
        if self._read_as_delta is not None:
            return self._read_as_delta
        return bool(self._delta_option) if self._delta_option is not None else "Delta" in self.path.name

    def check(self) -> CheckResult:
        if not self.path.exists():
            return CheckResult(reachable=False, authenticated=None, detail=f"{self.path} does not exist")
        return CheckResult(reachable=True, authenticated=None, detail=str(self.path))

    def close(self) -> None:
        if self._complete is not None:
            self._complete.close()
            self._complete = None

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
        spools = {kind: RecordSpool() for kind in self.capabilities if kind is not capability}
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
                problems.add("file.unknown", member.name)
        found.sort(key=lambda pair: pair[0].sort_key)
        return found

    def _scan(self) -> Iterator[Record]:
        """One pass over the bundle, in category order; classes and groups come last."""
        problems = Problems()
        if not self.path.exists():
            raise InputError("no such file or directory", where=str(self.path))
        with contextlib.closing(Archive(self.path, on_problem=problems.add)) as archive:
            files = self._files(problems, archive)
            delta = self._delta_option
            if delta is None:
                delta = "Delta" in self.path.name or any(f.delta for f, _ in files)
            self._read_as_delta = delta
            mapper = Mapper(MapperOptions(self.prefix, delta, self.known_guardians, self.known_structures), problems)
            for file, member in files:
                with member.open() as stream:
                    for entry in iter_entries(stream, file.name, problems):
                        if entry.op == "delete":  # never applied by a full read: counted, listed
                            problems.add("delete.not-applied", entry.where, entry.category)
                            continue
                        yield from mapper.records(entry)
            yield from mapper.finish()
            if self.expect_uai and self.expect_uai not in mapper.structure_uais and not delta:
                problems.add("uai.mismatch", self.path.name, "the expected UAI is not among the structures")
        self.problems = problems  # the complete pass's problems (a partial pass keeps the previous ones)


def _membership_test(value: object, option: str) -> Callable[[str], bool] | None:
    if value is None:
        return None
    if callable(value):
        test = value
        return lambda ident: bool(test(ident))
    if isinstance(value, Collection) and not isinstance(value, str):
        members = {str(v) for v in value}
        return members.__contains__
    raise ConfigError(f"aaf option {option} must be a callable or a collection of ids")
