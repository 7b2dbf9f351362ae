"""The conformance kit against ``edifice-archive`` (a source): the case's documents written as Edifice
user archives by the connector's own fixture writer, read back as Documents; productions are not
carried by the writer from a case (it makes its own, tested in test_archive.py)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from ent_migrate.connectors.edifice_archive.writer import write_edifice_archives
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.model import Document, Record


class EdificeArchiveHarness(Harness):
    name = "edifice-archive"

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        items = [(r, dataset.blobs[r.sha256] if isinstance(r, Document) else None) for r in dataset.records]
        out = tmp_path / f"archives-{uuid.uuid4().hex}"
        write_edifice_archives(items, out, productions=False)
        return f"edifice-archive:{out}"

    def expected(self, record: Record) -> Record | None:
        if not isinstance(record, Document):
            return None
        modified = record.modified
        if modified is not None:  # the archive keeps milliseconds, as entcore does
            modified = modified.replace(microsecond=modified.microsecond // 1000 * 1000)
        return dataclasses.replace(record, modified=modified)


TestEdificeArchiveKit = kit_tests(EdificeArchiveHarness)
