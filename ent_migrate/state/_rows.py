"""The rows the items table is written from and read into: one source record as extract stores it,
what map expects, what plan decided, what apply and the report read. Plain values, cheap to pickle
(extract and the report pass them between two processes: pipeline/_forked.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ent_migrate.model import Document, Message, Production, Record, fingerprint_of
from ent_migrate.outcomes import Action

__all__ = ["Decision", "ExpectedRow", "ExtractedRow", "PlannedRow", "ReportRow", "extracted_row"]

_BLOB_TYPES = (Message, Document, Production)

#: One source record as extract stores it: (kind, key, fingerprint, canonical dict, and for a record with
#: bytes their SHA-256 and size, else None and None). A plain tuple: a child process reading the source
#: sends these through a pipe, and a tuple is the cheapest thing to pickle.
ExtractedRow = tuple[str, str, str, dict[str, Any], str | None, int | None]


def extracted_row(record: Record) -> ExtractedRow:
    payload = record.to_dict()
    if isinstance(record, _BLOB_TYPES):
        return str(record.kind), record.key, fingerprint_of(payload), payload, record.sha256, record.size
    return str(record.kind), record.key, fingerprint_of(payload), payload, None, None


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectedRow:
    """What the store expects on the target for one (kind, key)."""

    id: int
    kind: str
    key: str
    target_payload: dict[str, Any] | None
    target_fingerprint: str | None
    action: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedRow:
    """One planned write, as apply reads it."""

    id: int
    kind: str
    key: str
    action: Action
    target_payload: dict[str, Any] | None
    target_fingerprint: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    item_id: int
    action: Action
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class ReportRow:
    kind: str
    key: str
    action: str | None
    reason: str | None
    mark: str | None
    mark_reason: str | None
    payload: dict[str, Any] | None  # the expected record, else the source's (None for a kind without a school)
    #: the source holds this item (False for what only the target holds: its payload is the target's)
    from_source: bool
    #: map gave it an expected record (``payload`` is then that record)
    expected: bool
