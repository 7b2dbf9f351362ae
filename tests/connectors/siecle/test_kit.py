"""The conformance kit against the ``siecle`` source: each case written by the SIECLE fixture writer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ent_migrate.connectors.siecle.writer import siecle_projection, write_school
from ent_migrate.fixtures.batches import schools_from_records
from ent_migrate.fixtures.generator import SchoolBatch
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.kit.harness import Snapshot
from ent_migrate.model import Person, Profile, Record


def _school(records: Iterable[Record]) -> tuple[SchoolBatch, dict[str, Person]]:
    """A SIECLE export holds one school: the case's collège, or its first structure."""
    items = list(records)
    batches = schools_from_records(items)
    guardians = {r.id: r for r in items if isinstance(r, Person) and r.profile is Profile.GUARDIAN}
    return next((b for b in batches if b.degree == "2D"), batches[0]), guardians


class SiecleHarness(Harness):
    name = "siecle"

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        folder = tmp_path / f"export-{sum(1 for _ in tmp_path.iterdir())}"  # a fresh export per state
        batch, guardians = _school(dataset.records)
        write_school(batch, folder, guardians)
        return f"siecle:{folder}"

    def expect(self, records: Iterable[Record]) -> Snapshot:
        # The projection needs the whole set (which school, which guardians): not one record at a time.
        batch, guardians = _school(records)
        return {(r.kind, r.key): r for r in siecle_projection(batch, guardians)}


_EMPTY = (
    "a pupil without ID_NATIONAL is 'not yet arrived' (pupil.not-arrived, not migrated) and a guardian "
    "without PRENOM is record.missing-field: SIECLE handling by design"
)
TestSiecleKit = kit_tests(
    SiecleHarness,
    xfail={"empty_optional": _EMPTY},
)
