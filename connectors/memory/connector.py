"""The ``memory`` connector.

Location: ``memory:`` (the default store) or ``memory:NAME`` (a named store shared by every
connector opened with that name in this process).

Options (``[source.NAME]`` / ``[target.NAME]`` in the config, or keyword options in tests):

``persist``          a file where every write is appended (and fsync'd) and replayed on open, so a
                     store outlives its process — this is what the kill -9 tests use
``transient_error``  probability that a write fails with a retryable error before it is made
``timeout``          probability that a write is made but the caller sees a retryable timeout
``terminal_error``   probability that a write fails for good (decided per item and action, so a
                     resumed run meets exactly the same terminal failures as an uninterrupted one)
``seed``             seed of the fault draws (default 0)
``fail_on_write``    any write raises — proves that a stage never writes
``login_max_length`` / ``login_pattern`` / ``required``   validation rules the target declares
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from ent_migrate.contract import (
    Action,
    Capability,
    Change,
    CheckResult,
    Connector,
    Operation,
    Role,
    TargetRules,
)
from ent_migrate.errors import ConfigError, TerminalError, TransientError
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

__all__ = ["MemoryConnector", "MemoryStore"]


@dataclasses.dataclass
class MemoryStore:
    """What one named store holds: records by kind and key, blobs by SHA-256, a change log."""

    records: dict[RecordKind, dict[str, Record]] = dataclasses.field(
        default_factory=lambda: {kind: {} for kind in RecordKind}
    )
    blobs: dict[str, bytes] = dataclasses.field(default_factory=dict)
    disabled: set[str] = dataclasses.field(default_factory=set)
    changes: list[Change] = dataclasses.field(default_factory=list)
    writes: int = 0  # every write that reached the store, retries included

    def put(self, record: Record, blob: bytes | None = None) -> None:
        """Add or replace a record (and its blob) — the way tests fill a source."""
        self.records[record.kind][record.key] = record
        if blob is not None:
            self.blobs[hashlib.sha256(blob).hexdigest()] = blob
        self.changes.append(Change(str(len(self.changes) + 1), False, record.kind, record.key, record))

    def remove(self, kind: RecordKind, key: str) -> None:
        if self.records[kind].pop(key, None) is not None:
            self.changes.append(Change(str(len(self.changes) + 1), True, kind, key, None))

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

    _stores: ClassVar[dict[str, MemoryStore]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    # -- configuration -------------------------------------------------------------------------
    def __init__(self, location: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(location, options)
        self.store_name = location or "default"
        self.transient_error = self._probability("transient_error")
        self.timeout = self._probability("timeout")
        self.terminal_error = self._probability("terminal_error")
        self.seed = int(self.options.get("seed", 0))
        self.fail_on_write = bool(self.options.get("fail_on_write", False))
        self._attempts: dict[str, int] = {}
        persist = self.options.get("persist")
        self.persist = Path(persist) if persist else None
        with self._lock:
            if self.store_name not in self._stores:
                self._stores[self.store_name] = MemoryStore()
                if self.persist is not None and self.persist.exists():
                    self._replay(self._stores[self.store_name], self.persist)
        self.store = self._stores[self.store_name]

    def _probability(self, option: str) -> float:
        value = float(self.options.get(option, 0.0))
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"memory option {option} must be a probability between 0 and 1, not {value}")
        return value

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

    def read_changes(self, since: str | None) -> Iterator[Change]:
        start = int(since or 0)
        yield from self.store.changes[start:]

    def blob_sha256(self, record: Message | Document | Production) -> str:
        blob = self.store.blobs.get(record.sha256)
        if blob is None:
            raise TerminalError(f"no blob {record.sha256[:12]} for {record.kind}")
        return hashlib.sha256(blob).hexdigest()

    # -- target side ---------------------------------------------------------------------------
    def rules(self) -> TargetRules:
        required = {
            RecordKind(kind): tuple(fields)
            for kind, fields in dict(self.options.get("required", {})).items()
        }
        max_length = self.options.get("login_max_length")
        return TargetRules(
            required=required,
            login_max_length=int(max_length) if max_length is not None else None,
            login_pattern=self.options.get("login_pattern"),
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
