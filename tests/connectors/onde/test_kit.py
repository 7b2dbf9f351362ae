"""The conformance kit against the ``onde`` source: each case written by the ONDE fixture writer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ent_migrate.connectors.onde.writer import onde_projection, write_school
from ent_migrate.fixtures.batches import schools_from_records
from ent_migrate.fixtures.generator import SchoolBatch
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.kit.harness import Snapshot
from ent_migrate.model import Record


def _school(records: Iterable[Record]) -> SchoolBatch:
    """ONDE extractions hold one école: the case's primary school, or its first structure."""
    batches = schools_from_records(records)
    return next((b for b in batches if b.degree == "1D"), batches[0])


class OndeHarness(Harness):
    name = "onde"

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        folder = tmp_path / f"extraction-{sum(1 for _ in tmp_path.iterdir())}"  # a fresh one per state
        batch = _school(dataset.records)
        write_school(batch, folder, encoding="utf-8")  # lossless: the cases hold ’, Œ, ñ
        return f"onde:{folder}", {"uai": batch.structure.uai}

    def expect(self, records: Iterable[Record]) -> Snapshot:
        # Derived ids and name-based links need the whole set: not one record at a time.
        return {(r.kind, r.key): r for r in onde_projection(_school(records), encoding="utf-8")}


_EMPTY = (
    "ONDE requires a pupil's birth date and a guardian's first name: the reader reports them as "
    "record.missing-field (and drops the nameless guardian) by design"
)
TestOndeKit = kit_tests(
    OndeHarness,
    xfail={
        "test_source_reads_every_record[accounts-empty_optional]": _EMPTY,
        "test_source_reads_every_record[relations-empty_optional]": _EMPTY,
        "test_source_stable_reads[accounts-empty_optional]": _EMPTY,
        "test_source_stable_reads[relations-empty_optional]": _EMPTY,
        "test_round_trip[empty_optional]": _EMPTY,
    },
)
