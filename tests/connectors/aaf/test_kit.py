"""The conformance kit against the ``aaf`` source: datasets written by the AAF fixture writer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ent_migrate.connectors.aaf.writer import aaf_projection, write_aaf
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.kit.harness import Snapshot
from ent_migrate.model import Function, Membership, Person, Record, Structure


class AafHarness(Harness):
    name = "aaf"

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        folder = tmp_path / f"bundle-{sum(1 for _ in tmp_path.iterdir())}"  # a fresh bundle per state
        write_aaf(dataset.records, folder, degree="2D")
        return f"aaf:{folder}"

    def delta_source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        # A Delta bundle of modifyRequests; the structures it references without carrying them are
        # what the engine would pass as known_structures (the writer names them by their UAI).
        folder = tmp_path / f"delta-{sum(1 for _ in tmp_path.iterdir())}"
        write_aaf(dataset.records, folder, degree="2D", delta=True, modify=True)
        carried = {r.uai for r in dataset.records if isinstance(r, Structure)}
        referenced = {r.uai for r in dataset.records if isinstance(r, Membership | Function)}
        referenced |= {u for r in dataset.records if isinstance(r, Person) for u in r.structures}
        return f"aaf:{folder}", {"known_structures": {uai: uai for uai in sorted(referenced - carried)}}

    def expect(self, records: Iterable[Record]) -> Snapshot:
        # AAF derives some fields from others (profile from functions) and drops links it cannot
        # resolve: the projection needs the whole set, not one record at a time.
        return {(r.kind, r.key): r for r in aaf_projection(records, degree="2D")}

    def expect_delta(self, records: Iterable[Record]) -> Snapshot:
        # A delta keeps the links to people and structures it does not carry (the engine knows them).
        return {(r.kind, r.key): r for r in aaf_projection(records, degree="2D", delta=True)}

    def expected(self, record: Record) -> Record | None:
        projected = aaf_projection([record], degree="2D")
        return projected[0] if projected else None


_EMPTY = (
    "AAF requires a pupil's birth date, a person's names and a pupil's or staff member's structure: the "
    "reader reports them as errors (record.missing-field, uai.missing) by design"
)
TestAafKit = kit_tests(
    AafHarness,
    # Not test_source_read_in_a_child[empty_optional]: read in a child, the case gives the same
    # records and errors as read here, which is all that test asks.
    xfail={
        "-empty_optional]": _EMPTY,  # test_source_reads_every_record and _stable_reads, each capability
        "test_round_trip[empty_optional]": _EMPTY,
    },
)
