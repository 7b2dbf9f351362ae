"""The harness a connector's kit test file subclasses, and the helpers the suites share.

A harness knows how to put a :class:`~ent_migrate.kit.dataset.Dataset` into a fresh source of its
connector and how to make a fresh empty target; the suites do the rest through the public contract
(``open_connector``, ``Connector.read``, ``Connector.write``), exactly as the pipeline would.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ent_migrate.contract import (
    CAPABILITY_KINDS,
    DATA_CAPABILITIES,
    Action,
    Capability,
    Connector,
    Operation,
    Role,
)
from ent_migrate.kit.dataset import Dataset
from ent_migrate.model import Document, Message, Production, Record, RecordKind
from ent_migrate.registry import connector_class, open_connector

__all__ = [
    "KIT_NAMESPACE",
    "Endpoint",
    "Harness",
    "Snapshot",
    "apply",
    "data_capabilities",
    "operations",
    "read_snapshot",
]

#: op ids are uuid5 in this namespace: deterministic, as the pipeline's are, so re-applies are upserts
KIT_NAMESPACE = uuid.UUID("6f1d7d3e-0c55-4c1e-9a51-2f0d8b6c4a11")

#: what a harness returns for a source or target: a spec, or a spec and its options
Endpoint = str | tuple[str, Mapping[str, Any]]
#: (kind, key) → record, as read from a connector
Snapshot = dict[tuple[RecordKind, str], Record]


class Harness:
    """Subclass per connector; ``name`` is the registered connector name.

    Override :meth:`source_spec` if the connector is a source, :meth:`target_spec` if it is a
    target. The other hooks have defaults that suit a connector that stores the model losslessly.
    """

    name: ClassVar[str] = ""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    # -- hooks ---------------------------------------------------------------------------------
    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        """Put *dataset* into a fresh source and return its spec (and options)."""
        raise NotImplementedError(f"{type(self).__name__} must implement source_spec for a source connector")

    def update_source(self, endpoint: Endpoint, dataset: Dataset, tmp_path: Path) -> Endpoint:
        """Make the source at *endpoint* hold *dataset* instead (its second state).

        The default writes a fresh source with :meth:`source_spec`.
        """
        return self.source_spec(dataset, tmp_path)

    def delta_source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        """``delta`` connectors: a delta source (a part of the data) holding *dataset*."""
        raise NotImplementedError(f"{type(self).__name__} must implement delta_source_spec for a delta connector")

    def expect_delta(self, records: Iterable[Record]) -> Snapshot:
        """What a delta read of *records* gives; by default what a complete read would."""
        return self.expect(records)

    def target_spec(self, tmp_path: Path) -> Endpoint:
        """A fresh, empty target; return its spec (and options). Called again with the same
        *tmp_path*, it must return the *same* target (a resumed run opens it anew)."""
        raise NotImplementedError(f"{type(self).__name__} must implement target_spec for a target connector")

    def expected(self, record: Record) -> Record | None:
        """How *record* looks after passing through this connector's format; ``None`` when the format
        cannot carry it at all. Must be idempotent: ``expected(expected(r)) == expected(r)``."""
        return record

    # -- helpers the suites use ----------------------------------------------------------------
    @property
    def connector_class(self) -> type[Connector]:
        return connector_class(self.name)

    def open(self, endpoint: Endpoint) -> Connector:
        spec, options = (endpoint, {}) if isinstance(endpoint, str) else endpoint
        return open_connector(spec, options)

    def expect(self, records: Iterable[Record]) -> Snapshot:
        """The snapshot a read of this connector should give for *records* (a hook too: override it
        when the format derives records from one another, so ``expected`` alone cannot say)."""
        out: Snapshot = {}
        for record in records:
            seen = self.expected(record)
            if seen is not None:
                out[(seen.kind, seen.key)] = seen
        return out

    def fresh_target(self, label: str) -> Endpoint:
        """A target in its own folder under this test's tmp_path (several targets in one test)."""
        folder = self.tmp_path / label
        folder.mkdir(parents=True, exist_ok=True)
        return self.target_spec(folder)

    def source(self, dataset: Dataset, label: str = "source") -> Endpoint:
        folder = self.tmp_path / label
        folder.mkdir(parents=True, exist_ok=True)
        return self.source_spec(dataset, folder)

    def delta_source(self, dataset: Dataset, label: str = "delta") -> Endpoint:
        folder = self.tmp_path / label
        folder.mkdir(parents=True, exist_ok=True)
        return self.delta_source_spec(dataset, folder)


def data_capabilities(cls: type[Connector], role: Role | None = None) -> list[Capability]:
    """The data capabilities *cls* declares, in the contract's order."""
    if role is not None and role not in cls.roles:
        return []
    return [c for c in DATA_CAPABILITIES if c in cls.capabilities]


def read_snapshot(connector: Connector, capabilities: Iterable[Capability]) -> tuple[Snapshot, list[str]]:
    """Read every record of *capabilities*; also return the keys read more than once (duplicates)."""
    out: Snapshot = {}
    duplicates: list[str] = []
    for capability in capabilities:
        kinds = CAPABILITY_KINDS[capability]
        for record in connector.read(capability):
            ident = (record.kind, record.key)
            if record.kind not in kinds:
                duplicates.append(f"{record.kind} {record.key!r} read through {capability}")
            if ident in out:
                duplicates.append(f"{record.kind} {record.key!r}")
            out[ident] = record
    return out, duplicates


def operations(records: Iterable[Record], action: Action = Action.CREATE) -> list[Operation]:
    """One operation per record, in dependency order, with deterministic op ids."""
    order = list(RecordKind)
    out = []
    for record in sorted(records, key=lambda r: (order.index(r.kind), r.key)):
        op_id = str(uuid.uuid5(KIT_NAMESPACE, f"{record.kind}|{record.key}|{record.fingerprint()}"))
        out.append(Operation(op_id, action, record.kind, record.key, record))
    return out


def apply(target: Connector, ops: Iterable[Operation], blobs: Mapping[str, bytes]) -> None:
    """Send *ops* through ``Connector.write``, each blob as a fresh stream."""
    for op in ops:
        blob = None
        if isinstance(op.record, Message | Document | Production):
            blob = io.BytesIO(blobs[op.record.sha256])
        target.write(op, blob)
