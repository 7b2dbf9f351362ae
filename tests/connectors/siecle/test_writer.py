"""Generated collèges written by connectors/siecle/writer.py and read back by ``siecle:`` give exactly the
generated records under :func:`siecle_projection` (the one place that says what SIECLE cannot carry)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.connectors.siecle.writer import siecle_projection, write_school, write_siecle
from ent_migrate.fixtures.batches import schools_from_records
from ent_migrate.fixtures.generator import SchoolBatch, generate
from ent_migrate.kit import load_case
from ent_migrate.model import Person, Profile, Record

Snapshot = dict[tuple[str, str], Record]


def snapshot(records: list[Record]) -> Snapshot:
    out: Snapshot = {}
    for record in records:
        assert (record.kind, record.key) not in out, f"{record.kind} {record.key} read twice"
        out[(str(record.kind), record.key)] = record
    return out


def read(location: Path) -> tuple[Snapshot, SiecleConnector]:
    connector = SiecleConnector(str(location))
    records: list[Record] = [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()]
    return snapshot(records), connector


def colleges(accounts: int, seed: int) -> Iterator[tuple[SchoolBatch, dict[str, Person]]]:
    shared: dict[str, Person] = {}
    for batch in generate(accounts, seed, content=False):
        shared.update({p.id: p for p in batch.people if p.profile is Profile.GUARDIAN and len(p.structures) > 1})
        if batch.degree == "2D":
            yield batch, shared


def assert_same(actual: Snapshot, expected: Snapshot) -> None:
    assert sorted(expected.keys() - actual.keys()) == []
    assert sorted(actual.keys() - expected.keys()) == []
    differ = [(actual[k], expected[k]) for k in expected if actual[k].fingerprint() != expected[k].fingerprint()]
    assert differ == []


@pytest.mark.parametrize(
    ("seed", "options"),
    [
        (3, {}),
        (5, {"structures_first": False, "encoding": "UTF-8"}),
        (8, {"zipped": True}),
        (11, {"generation": "old"}),
    ],
)
def test_generated_colleges_round_trip(tmp_path: Path, seed: int, options: dict[str, object]) -> None:
    seen = 0
    for batch, shared in colleges(2600, seed):
        location = write_school(batch, tmp_path / batch.structure.uai, shared, **options)  # type: ignore[arg-type]  # options are write_school keywords
        actual, connector = read(location)
        assert connector.problems.to_list() == []
        generation = str(options.get("generation", "new"))
        assert_same(actual, snapshot(siecle_projection(batch, shared, generation=generation)))
        # siblings: the collège's pupils include families whose guardians an école introduced
        assert any(g.guardian_id not in {p.id for p in batch.people} for g in batch.guardianships)
        seen += 1
    assert seen >= 1


def test_write_siecle_streams_a_district(tmp_path: Path) -> None:
    folders = write_siecle(generate(5000, 2, content=False), tmp_path)
    expected = [b.structure.uai for b in generate(5000, 2, content=False) if b.degree == "2D"]
    assert [f.name for f in folders] == expected
    assert len(expected) >= 2
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [
            "ElevesSansAdresses.xml",
            "Nomenclature.xml",
            "ResponsablesAvecAdresses.xml",
            f"sts_emp_{folder.name}_2025.xml",
        ]
        snap, connector = read(folder)
        assert connector.problems.to_list() == []
        assert any(r.kind == "person" for r in snap.values())


def test_canonical_records_are_cut_into_schools(tmp_path: Path) -> None:
    batches = list(generate(1500, 4, content=False))
    records: list[Record] = []
    for batch in batches:
        records += [batch.structure, *batch.people, *batch.functions, *batch.groups, *batch.memberships]
        records += batch.guardianships
    cut = {b.structure.uai: b for b in schools_from_records(records)}
    (college,) = [b for b in batches if b.degree == "2D"]
    again = cut[college.structure.uai]
    assert {p.id for p in again.people if p.profile is not Profile.GUARDIAN} == {
        p.id for p in college.people if p.profile is not Profile.GUARDIAN
    }
    assert again.pupil_levels == college.pupil_levels
    folders = write_siecle(records, tmp_path / "out")
    assert [f.name for f in folders] == [college.structure.uai]


def test_records_with_siblings_in_two_schools(tmp_path: Path) -> None:
    records = list(load_case("siblings").records)
    folders = {f.name: f for f in write_siecle(records, tmp_path, degrees=None)}
    snap, connector = read(folders["0350012Y"])  # the collège: its pupil's guardians came with the école
    # the case's pupil has no civility, which a BEE export always carries (CODE_SEXE): a warning only
    assert [(p.code, p.details) for p in connector.problems] == [("record.incomplete", ["pupil CODE_SEXE"])]
    guardians = sorted(r.key for r in snap.values() if isinstance(r, Person) and r.profile is Profile.GUARDIAN)
    assert guardians == ["kit-sib-g1", "kit-sib-g2"]


def test_birth_and_usage_names_round_trip(tmp_path: Path) -> None:
    """A pupil, a guardian and a staff member whose usage name differs from their birth name keep both."""
    batch, shared = next(colleges(2600, 3))
    renamed: dict[str, Person] = {}
    for profile in (Profile.STUDENT, Profile.GUARDIAN, Profile.TEACHER):
        person = next(p for p in [*batch.people, *shared.values()] if p.profile is profile and p.id not in renamed)
        renamed[person.id] = dataclasses.replace(
            person, birth_name=person.last_name, last_name="EPOUSE-" + person.last_name
        )
    people = [renamed.get(p.id, p) for p in batch.people]
    batch = dataclasses.replace(batch, people=people)
    shared = {k: renamed.get(k, v) for k, v in shared.items()}
    actual, connector = read(write_school(batch, tmp_path / "x", shared))
    assert not connector.problems.has_errors
    assert_same(actual, snapshot(siecle_projection(batch, shared)))
    read_back = [r for r in actual.values() if isinstance(r, Person) and r.id in renamed]
    assert len(read_back) == 3
    assert all(p.birth_name and p.last_name == "EPOUSE-" + p.birth_name for p in read_back)
