"""The ``memory`` connector.

Location: ``memory:`` (the default store) or ``memory:NAME`` (a named store shared by every
connector opened with that name in this process).

Options: :class:`MemoryOptions` (``ent-migrate connectors about memory`` lists them). Faults are
decided per item and action, so a resumed run meets exactly the faults an uninterrupted one meets;
``crash_after_writes`` kills the process between a journaled intent and its effect, at a deterministic
point, for the crash tests.

A memory store lives only as long as its process unless ``persist`` names a file: as a target it says
so on every run (:meth:`MemoryConnector.notices`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from ent_migrate.contract import (
    Action,
    Capability,
    CheckResult,
    Connector,
    ConnectorOptions,
    KnownPeople,
    Operation,
    Role,
    TargetRules,
)
from ent_migrate.errors import TerminalError, TransientError
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
    record_from_dict,
)
from ent_migrate.options import option

__all__ = ["MemoryConnector", "MemoryOptions", "MemoryStore"]


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"option {name} must be a probability between 0 and 1, not {value:g}")


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryOptions(ConnectorOptions):
    persist: str | None = option(None, "a file where every write is appended (fsync'd) and replayed on open")
    transient_error: float = option(0.0, "probability that a write fails with a retryable error before it is made")
    timeout: float = option(0.0, "probability that a write is made but the caller sees a retryable timeout")
    terminal_error: float = option(0.0, "probability that a write fails for good")
    seed: int = option(0, "seed of the fault draws")
    fail_on_write: bool = option(False, "every write raises: proves that a stage never writes")
    crash_after_writes: int | None = option(None, "kill this process (SIGKILL) at write N+1, after its intent")
    partial: bool = option(False, "as a source, read as a delta: absence never deletes")
    jointure_ids: bool = option(False, "as a source, person ids are académie jointures (as AAF's and SDET's are)")
    login_max_length: int | None = option(None, "target rule: the longest login accepted")
    login_pattern: str | None = option(None, "target rule: a regular expression every login must match")
    required: Mapping[str, tuple[str, ...]] = option(
        help="target rule: kind -> fields that must not be empty", empty_table=True
    )

    def __post_init__(self) -> None:
        for name in ("transient_error", "timeout", "terminal_error"):
            _probability(name, getattr(self, name))
        if self.crash_after_writes is not None and self.crash_after_writes < 0:
            raise ValueError("option crash_after_writes must be 0 or more")


@dataclasses.dataclass
class MemoryStore:
    """What one named store holds: records by kind and key, blobs by SHA-256, a change log."""

    records: dict[RecordKind, dict[str, Record]] = dataclasses.field(
        default_factory=lambda: {kind: {} for kind in RecordKind}
    )
    blobs: dict[str, bytes] = dataclasses.field(default_factory=dict)
    disabled: set[str] = dataclasses.field(default_factory=set)
    writes: int = 0  # every write that reached the store, retries included

    def put(self, record: Record, blob: bytes | None = None) -> None:
        """Add or replace a record (and its blob) — the way tests fill a source."""
        self.records[record.kind][record.key] = record
        if blob is not None:
            self.blobs[hashlib.sha256(blob).hexdigest()] = blob

    def remove(self, kind: RecordKind, key: str) -> None:
        self.records[kind].pop(key, None)

    def sorted_records(self, *kinds: RecordKind) -> Iterator[Record]:
        for kind in kinds:
            bucket = self.records[kind]
            for key in sorted(bucket):
                yield bucket[key]


class MemoryConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "memory"
    summary: ClassVar[str] = "In-process store with fault knobs: the reference and template connector."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE, Role.TARGET})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    location_help: ClassVar[str] = "memory: or memory:NAME (a named in-process store)"
    max_concurrency: ClassVar[int] = 8
    # Its readers only walk the store (a fork's copy of it, read in a child): nothing is left behind.
    reads_in_child: ClassVar[bool] = True
    Options: ClassVar[type[ConnectorOptions]] = MemoryOptions

    _stores: ClassVar[dict[str, MemoryStore]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _process_writes: ClassVar[int] = 0  # writes attempted by this process (crash_after_writes)

    options: MemoryOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self.store_name = location or "default"
        self.transient_error = self.options.transient_error
        self.timeout = self.options.timeout
        self.terminal_error = self.options.terminal_error
        self.seed = self.options.seed
        self.fail_on_write = self.options.fail_on_write
        self._attempts: dict[str, int] = {}
        self._known_people: KnownPeople | None = None
        self.persist = Path(self.options.persist) if self.options.persist else None
        with self._lock:
            if self.store_name not in self._stores:
                self._stores[self.store_name] = MemoryStore()
                if self.persist is not None and self.persist.exists():
                    self._replay(self._stores[self.store_name], self.persist)
        self.store = self._stores[self.store_name]

    @classmethod
    def named_store(cls, name: str = "default") -> MemoryStore:
        """The store behind ``memory:NAME`` (created empty if needed)."""
        with cls._lock:
            return cls._stores.setdefault(name or "default", MemoryStore())

    @classmethod
    def reset(cls) -> None:
        """Forget every store (tests call this between cases)."""
        with cls._lock:
            cls._stores.clear()

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        return CheckResult(reachable=True, authenticated=None, detail=f"store {self.store_name!r}")

    def notices(self) -> list[str]:
        if self.persist is None:
            return [f"the memory: target {self.store_name!r} lives in this process only and is lost when it ends"]
        return []

    def person_ids_are_jointures(self) -> bool:
        return self.options.jointure_ids

    def is_partial(self) -> bool:
        return self.options.partial

    def use_known_people(self, known: KnownPeople) -> None:
        self._known_people = known

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        for record in self.store.sorted_records(RecordKind.STRUCTURE, RecordKind.PERSON, RecordKind.FUNCTION):
            assert isinstance(record, Structure | Person | Function)
            yield record

    def read_groups(self) -> Iterator[Group]:
        for record in self.store.sorted_records(RecordKind.GROUP):
            assert isinstance(record, Group)
            yield record

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        for record in self.store.sorted_records(RecordKind.MEMBERSHIP, RecordKind.GUARDIANSHIP):
            assert isinstance(record, Membership | Guardianship)
            yield record

    def read_mail(self) -> Iterator[Mailbox | Message]:
        for record in self.store.sorted_records(RecordKind.MAILBOX, RecordKind.MESSAGE):
            assert isinstance(record, Mailbox | Message)
            yield record

    def read_documents(self) -> Iterator[Document | Production]:
        for record in self.store.sorted_records(RecordKind.DOCUMENT, RecordKind.PRODUCTION):
            assert isinstance(record, Document | Production)
            yield record

    def open_blob(self, record: Message | Document | Production) -> IO[bytes]:
        try:
            return io.BytesIO(self.store.blobs[record.sha256])
        except KeyError:
            raise TerminalError(f"no blob {record.sha256[:12]} for {record.kind}") from None

    def blob_sha256(self, record: Message | Document | Production) -> str:
        blob = self.store.blobs.get(record.sha256)
        if blob is None:
            raise TerminalError(f"no blob {record.sha256[:12]} for {record.kind}")
        return hashlib.sha256(blob).hexdigest()

    # -- target side ---------------------------------------------------------------------------
    def rules(self) -> TargetRules:
        required = {RecordKind(kind): tuple(fields) for kind, fields in self.options.required.items()}
        return TargetRules(
            required=required,
            login_max_length=self.options.login_max_length,
            login_pattern=self.options.login_pattern,
        )

    def write_account(self, op: Operation) -> None:
        self._write(op, None)

    def write_group(self, op: Operation) -> None:
        self._write(op, None)

    def write_relation(self, op: Operation) -> None:
        self._write(op, None)

    def write_mail(self, op: Operation, blob: IO[bytes] | None) -> None:
        self._write(op, blob)

    def write_document(self, op: Operation, blob: IO[bytes] | None) -> None:
        self._write(op, blob)

    def delete(self, kind: RecordKind, key: str) -> None:
        self._fault(f"delete|{kind}|{key}")
        with self._lock:
            self.store.remove(kind, key)
            self.store.disabled.discard(key)
            self._append({"op": "delete", "kind": str(kind), "key": key})
            self.store.writes += 1

    # -- internals -----------------------------------------------------------------------------
    def _draw(self, salt: str) -> float:
        """A uniform number in [0, 1) fixed by (seed, salt): fault decisions are reproducible."""
        digest = hashlib.sha256(f"{self.seed}|{salt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _fault(self, op_key: str) -> bool:
        """Raise the faults that come before a write; return True if a timeout follows it."""
        if self.fail_on_write:
            raise TerminalError("this memory target refuses every write (fail_on_write)")
        if self.options.crash_after_writes is not None:
            with self._lock:
                MemoryConnector._process_writes += 1
                if MemoryConnector._process_writes > self.options.crash_after_writes:
                    # The journal already holds this write's intent: dying here is the worst moment.
                    os.kill(os.getpid(), signal.SIGKILL)
        if self.terminal_error and self._draw(f"terminal|{op_key}") < self.terminal_error:
            raise TerminalError("injected terminal error")
        attempt = self._attempts.get(op_key, 0)
        self._attempts[op_key] = attempt + 1
        if self.transient_error and self._draw(f"transient|{op_key}|{attempt}") < self.transient_error:
            raise TransientError("injected transient error", retry_after=0.0)
        return bool(self.timeout) and self._draw(f"timeout|{op_key}|{attempt}") < self.timeout

    def _write(self, op: Operation, blob: IO[bytes] | None) -> None:
        # Faults are drawn per item and action, not per op id (which names the run): an interrupted
        # and resumed run meets exactly the faults an uninterrupted run meets.
        timeout_after = self._fault(f"{op.action}|{op.kind}|{op.key}")
        assert op.record is not None, "writes carry a record; deletes go to delete()"
        data = blob.read() if blob is not None else None
        with self._lock:
            self.store.put(op.record, data)
            if op.action is Action.DISABLE:
                self.store.disabled.add(op.key)
            else:
                self.store.disabled.discard(op.key)
            entry: dict[str, Any] = {"op": str(op.action), "record": op.record.to_dict()}
            if data is not None:
                entry["blob"] = data.hex()
            self._append(entry)
            self.store.writes += 1
        if timeout_after:
            raise TransientError("injected timeout (the write was made)")

    def _append(self, entry: Mapping[str, Any]) -> None:
        if self.persist is None:
            return
        with self.persist.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    @staticmethod
    def _replay(store: MemoryStore, path: Path) -> None:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # a write torn by a kill: it never happened
                entry = json.loads(line)
                if entry["op"] == "delete":
                    store.remove(RecordKind(entry["kind"]), entry["key"])
                    store.disabled.discard(entry["key"])
                    continue
                record = record_from_dict(entry["record"])
                blob = bytes.fromhex(entry["blob"]) if "blob" in entry else None
                store.put(record, blob)
                if entry["op"] == Action.DISABLE:
                    store.disabled.add(record.key)
                else:
                    store.disabled.discard(record.key)
