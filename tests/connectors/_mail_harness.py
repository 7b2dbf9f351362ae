"""What the mail connectors' kit harnesses share: how a message looks after a mail format, and filling a
source by writing the dataset through the connector itself (its reading is checked independently in
tests/connectors/<name>/ against files and a server written by other software)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import ClassVar

from ent_migrate.kit import Dataset, Endpoint, Harness, case_names, load_case
from ent_migrate.kit.harness import operations
from ent_migrate.mail import normalise_flags, sha256_hex, utc_seconds, wire_form
from ent_migrate.model import Mailbox, Message, Record

__all__ = ["MailHarness", "wire_digests"]

_DIGESTS: dict[str, tuple[str, int]] = {}


def wire_digests() -> dict[str, tuple[str, int]]:
    """sha256 of every kit blob → (sha256, size) of its wire form (CRLF), and each wire digest → itself."""
    if not _DIGESTS:
        for name in case_names():
            dataset = load_case(name)
            for record in dataset.blob_records():
                if isinstance(record, Message):
                    wire = wire_form(dataset.blobs[record.sha256])
                    _DIGESTS[record.sha256] = _DIGESTS[sha256_hex(wire)] = (sha256_hex(wire), len(wire))
    return _DIGESTS


class MailHarness(Harness):
    """A mail connector's harness: subclasses give ``endpoint(folder)`` for a fresh store."""

    carries_flags: ClassVar[bool] = True

    def endpoint(self, folder: Path) -> Endpoint:
        raise NotImplementedError

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        endpoint = self.endpoint(tmp_path / "source")
        with self.open(endpoint) as target:
            for op in operations(dataset.records):
                blob = io.BytesIO(dataset.blobs[op.record.sha256]) if isinstance(op.record, Message) else None
                target.write(op, blob)
        return endpoint

    def target_spec(self, tmp_path: Path) -> Endpoint:
        return self.endpoint(tmp_path / "target")

    def expected(self, record: Record) -> Record | None:
        if isinstance(record, Mailbox):
            return record
        if not isinstance(record, Message):
            return None
        sha256, size = wire_digests().get(record.sha256, (record.sha256, record.size))
        return dataclasses.replace(
            record,
            sha256=sha256,
            size=size,
            flags=normalise_flags(record.flags) if self.carries_flags else (),
            date=utc_seconds(record.date) if record.date is not None else None,
        )
