"""The one contract every connector implements, like an rclone backend.

A connector is a class with a ``name``, the ``roles`` it can play (source, target) and the
``capabilities`` it declares. It implements exactly the methods its capabilities call for —
no more, no less: :func:`implemented_capabilities` derives what a class really implements from
which methods it overrides, and the registry refuses a class whose declaration differs.

Capability → methods (source side / target side):

=============  =====================================  ==========================================
accounts       ``read_accounts``                      ``write_account``
groups         ``read_groups``                        ``write_group``
relations      ``read_relations``                     ``write_relation``
mail           ``read_mail`` + ``open_blob``          ``write_mail``
documents      ``read_documents`` + ``open_blob``     ``write_document``
delta          ``is_partial`` + ``use_known_people``  —
delete         —                                      ``delete``
read-back      —                                      the source-side readers, on a target
blob-hash      ``blob_sha256`` (hash without download)
=============  =====================================  ==========================================

Lifecycle: ``check`` (reachable, authenticated), the readers and writers, then ``finish`` — make what
was written complete and durable (commit, pack a package) — called by the runner only once apply has
completed, and ``close`` — release connections and files, never commit — called always. Used as a
context manager, a connector finishes only when the block ends without an exception, so an aborted
write never looks complete.

Options: each connector declares a frozen dataclass (``Options``, a subclass of
:class:`ConnectorOptions`); the config table is checked against it (unknown keys and wrong types are a
``ConfigError`` naming the section and key) and the instance is ``self.options``.

Engine services reach a connector only through a declared capability: a ``delta`` source (one that may
yield a part of the data, such as an AAF delta bundle) says so with ``is_partial()`` and is handed the
state store's ``known person`` lookup through ``use_known_people()``.

To write a new connector, copy ``connectors/memory`` and keep its order and names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import IO, Any, ClassVar

from ent_migrate.model import (
    Document,
    Function,
    Group,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Production,
    Record,
    RecordKind,
    Structure,
)
from ent_migrate.options import parse_options
from ent_migrate.outcomes import Action
from ent_migrate.problems import Problems

__all__ = [
    "CAPABILITY_KINDS",
    "DATA_CAPABILITIES",
    "Action",
    "Capability",
    "CheckResult",
    "Connector",
    "ConnectorOptions",
    "KnownPeople",
    "Operation",
    "Role",
    "TargetRules",
    "capability_for_kind",
    "implemented_capabilities",
]


class Role(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class Capability(StrEnum):
    ACCOUNTS = "accounts"
    GROUPS = "groups"
    RELATIONS = "relations"
    MAIL = "mail"
    DOCUMENTS = "documents"
    DELTA = "delta"
    DELETE = "delete"
    READ_BACK = "read-back"
    BLOB_HASH = "blob-hash"


DATA_CAPABILITIES = (
    Capability.ACCOUNTS,
    Capability.GROUPS,
    Capability.RELATIONS,
    Capability.MAIL,
    Capability.DOCUMENTS,
)

CAPABILITY_KINDS: Mapping[Capability, tuple[RecordKind, ...]] = {
    Capability.ACCOUNTS: (RecordKind.STRUCTURE, RecordKind.PERSON, RecordKind.FUNCTION),
    Capability.GROUPS: (RecordKind.GROUP,),
    Capability.RELATIONS: (RecordKind.MEMBERSHIP, RecordKind.GUARDIANSHIP),
    Capability.MAIL: (RecordKind.MAILBOX, RecordKind.MESSAGE),
    Capability.DOCUMENTS: (RecordKind.DOCUMENT, RecordKind.PRODUCTION),
}

_READERS = {
    Capability.ACCOUNTS: "read_accounts",
    Capability.GROUPS: "read_groups",
    Capability.RELATIONS: "read_relations",
    Capability.MAIL: "read_mail",
    Capability.DOCUMENTS: "read_documents",
}
_WRITERS = {
    Capability.ACCOUNTS: "write_account",
    Capability.GROUPS: "write_group",
    Capability.RELATIONS: "write_relation",
    Capability.MAIL: "write_mail",
    Capability.DOCUMENTS: "write_document",
}


def capability_for_kind(kind: RecordKind) -> Capability:
    """The data capability that carries records of *kind*."""
    for capability, kinds in CAPABILITY_KINDS.items():
        if kind in kinds:
            return capability
    raise ValueError(kind)  # pragma: no cover - every kind is in the table


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One write to a target. ``op_id`` is deterministic (uuid5), so a retry or a resumed run sends
    the same key and a target can treat the write as an upsert."""

    op_id: str
    action: Action
    kind: RecordKind
    key: str
    record: Record | None  # the desired record; None for delete


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``connectors check`` reports: reachability, credentials, capabilities."""

    reachable: bool
    authenticated: bool | None  # None when the connector has no credentials to check
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class TargetRules:
    """Validation rules a target declares; plan applies them so apply does not fail on them."""

    required: Mapping[RecordKind, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    login_max_length: int | None = None
    login_pattern: str | None = None  # a full-match regular expression


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectorOptions:
    """Base of every connector's options dataclass (fields made with :func:`ent_migrate.options.option`)."""


#: ``person id -> bool``: does the state store already hold this person (an identity or an alias)?
KnownPeople = Callable[[str], bool]


class Connector:
    """Base class of every connector. Subclasses set the class variables and override the methods
    their capabilities call for; the defaults raise ``NotImplementedError``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    roles: ClassVar[frozenset[Role]] = frozenset()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: how LOCATION is written, shown by ``connectors about``
    location_help: ClassVar[str] = ""
    #: how many writes apply may send at once; 1 unless the connector is safe to call from threads
    max_concurrency: ClassVar[int] = 1
    #: True when all a read leaves behind that a later call reads is in :meth:`read_outcome` (the
    #: problems; a delta flag), and nothing opened before the read is used by it. Extract may then run
    #: the readers in a forked child, on the second core, while this process stores what they yield,
    #: and hand the child's outcome to this instance (pipeline/extract.py). False unless the connector
    #: is sure; the kit's ``test_source_read_in_a_child`` checks it.
    reads_in_child: ClassVar[bool] = False
    #: ``("module:function", consumes)``: the function that writes a generated district in this connector's
    #: format (``ent-migrate fixtures generate``), consuming "records", "batches" (one SchoolBatch per
    #: school) or "per-degree" (1D/ and 2D/ feeds). It lives beside the reader, with its projection.
    fixture_writer: ClassVar[tuple[str, str] | None] = None
    #: the options dataclass; ``self.options`` is its instance
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    options: ConnectorOptions

    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        self.location = location
        #: the role this instance was opened for (None in library use): a target finishes what it wrote
        self.role = role
        self.options = parse_options(type(self).Options, options, where or f"{self.name} options")
        #: problems found while reading (bad records are counted and listed here, never raised)
        self.problems = Problems()

    # -- lifecycle ---------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Reachability and credentials. The default says reachable; network connectors override."""
        return CheckResult(reachable=True, authenticated=None)

    def notices(self) -> list[str]:
        """Warnings to show on every run that uses this connector (a store that does not persist, a
        connection without TLS); the default has none."""
        return []

    def sync(self) -> None:
        """Make every write acknowledged so far durable. apply calls it before it journals those writes
        as done, so a target may acknowledge a write before it is durable and make many durable at once
        (the package target: one fsync of its log for a group of writes, not one per write). A write
        not yet synced when the process dies is not journaled as done, so a resumed apply sends it
        again. The default has nothing to do: a server's acknowledgement is durable."""

    def finish(self) -> None:
        """Make what was written complete and durable (commit, pack). Called once apply has completed,
        never after an error; the default has nothing to do."""

    def close(self) -> None:
        """Release connections and files. Never commits: a target closed without :meth:`finish` is left
        unfinished (and resumable), never made to look complete."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.finish()
        finally:
            self.close()

    # -- source side -------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        raise NotImplementedError

    def read_groups(self) -> Iterator[Group]:
        raise NotImplementedError

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        raise NotImplementedError

    def read_mail(self) -> Iterator[Mailbox | Message]:
        raise NotImplementedError

    def read_documents(self) -> Iterator[Document | Production]:
        raise NotImplementedError

    def open_blob(self, record: Message | Document | Production) -> IO[bytes]:
        """The bytes of a message, document or production, as a readable binary stream."""
        raise NotImplementedError

    def read_outcome(self) -> object:
        """What the reads so far left behind that later calls read, picklable: for a read in a forked
        child (``reads_in_child``), whose outcome :meth:`adopt_read_outcome` hands to the instance of
        the process that forked it. The default: the problems. A connector that keeps more (AAF's delta
        flag, decided by the file names it read) overrides both."""
        return self.problems

    def adopt_read_outcome(self, outcome: object) -> None:
        """Hold what a child's :meth:`read_outcome` gave, as if this instance had read. The problems are
        replaced in place: whoever holds this collector sees them."""
        if not isinstance(outcome, Problems):  # the default read_outcome gives the problems alone
            raise TypeError(f"{type(self).__name__}: a read outcome of {type(outcome).__name__}, not Problems")
        self.problems.replace(outcome)

    def person_ids_are_jointures(self) -> bool:
        """True when the person ids this source reads are académie jointures (``ENTPersonJointure``):
        reconcile then weighs an equal id from another such source as the jointure key. Any other
        source's ids mean nothing outside it (two schools' ``ELEVE_ID`` may be equal), so the default is
        False."""
        return False

    def is_partial(self) -> bool:
        """``delta``: True when what this source yields is a part, not the whole (a delta feed); plan then
        never turns an absence into a deletion or a disable. Known once the source has been read."""
        raise NotImplementedError

    def use_known_people(self, known: KnownPeople) -> None:
        """``delta``: the state store's lookup of people an earlier run knew, for references a delta makes
        to people it does not carry (a guardian of a pupil in a delta AAF bundle)."""
        raise NotImplementedError

    def blob_sha256(self, record: Message | Document | Production) -> str:
        """SHA-256 of a blob as the system itself reports it, without downloading it."""
        raise NotImplementedError

    # -- target side -------------------------------------------------------------------------
    def rules(self) -> TargetRules:
        return TargetRules()

    def write_account(self, op: Operation) -> None:
        raise NotImplementedError

    def write_group(self, op: Operation) -> None:
        raise NotImplementedError

    def write_relation(self, op: Operation) -> None:
        raise NotImplementedError

    def write_mail(self, op: Operation, blob: IO[bytes] | None) -> None:
        raise NotImplementedError

    def write_document(self, op: Operation, blob: IO[bytes] | None) -> None:
        raise NotImplementedError

    def delete(self, kind: RecordKind, key: str) -> None:
        raise NotImplementedError

    # -- generic helpers built on the above ----------------------------------------------------
    def read(self, capability: Capability) -> Iterator[Record]:
        """Records of one data capability, through its reader."""
        reader = getattr(self, _READERS[capability])
        yield from reader()

    def write(self, op: Operation, blob: IO[bytes] | None = None) -> None:
        """Send one create/update/disable/move operation to the writer of its capability; deletes
        go to :meth:`delete`."""
        if op.action is Action.DELETE:
            self.delete(op.kind, op.key)
            return
        capability = capability_for_kind(op.kind)
        writer = getattr(self, _WRITERS[capability])
        if capability in (Capability.MAIL, Capability.DOCUMENTS):
            writer(op, blob)
        else:
            writer(op)


def _overrides(cls: type[Connector], method: str) -> bool:
    return getattr(cls, method) is not getattr(Connector, method)


def implemented_capabilities(cls: type[Connector]) -> frozenset[Capability]:
    """The capabilities *cls* really implements, derived from the methods it overrides."""
    found: set[Capability] = set()
    source, target = Role.SOURCE in cls.roles, Role.TARGET in cls.roles
    for capability in DATA_CAPABILITIES:
        reads = _overrides(cls, _READERS[capability])
        writes = _overrides(cls, _WRITERS[capability])
        if capability in (Capability.MAIL, Capability.DOCUMENTS) and reads:
            reads = _overrides(cls, "open_blob")
        if (source and reads) or (target and writes):
            found.add(capability)
    if _overrides(cls, "is_partial") and _overrides(cls, "use_known_people"):
        found.add(Capability.DELTA)
    if _overrides(cls, "delete"):
        found.add(Capability.DELETE)
    if _overrides(cls, "blob_sha256"):
        found.add(Capability.BLOB_HASH)
    data = found & set(DATA_CAPABILITIES)
    if target and data and all(_overrides(cls, _READERS[c]) for c in data):
        found.add(Capability.READ_BACK)
    return frozenset(found)


def missing_methods(cls: type[Connector]) -> list[str]:
    """Methods a declared capability calls for that *cls* does not override (for messages)."""
    missing: list[str] = []
    for capability in sorted(cls.capabilities):
        names: list[str] = []
        if capability in _READERS:
            if Role.SOURCE in cls.roles or Capability.READ_BACK in cls.capabilities:
                names.append(_READERS[capability])
            if Role.TARGET in cls.roles:
                names.append(_WRITERS[capability])
            if capability in (Capability.MAIL, Capability.DOCUMENTS) and Role.SOURCE in cls.roles:
                names.append("open_blob")
        else:
            names.append(
                {
                    Capability.DELTA: "is_partial and use_known_people",
                    Capability.DELETE: "delete",
                    Capability.BLOB_HASH: "blob_sha256",
                    Capability.READ_BACK: "read_* on a target",
                }[capability]
            )
        if capability is Capability.DELTA:
            names = ["is_partial", "use_known_people"]
        missing.extend(n for n in names if n in dir(Connector) and not _overrides(cls, n))
    return missing
