"""connectors/aaf/writer: a generated district written as AAF reads back as its AAF projection."""

from __future__ import annotations

from pathlib import Path

import pytest

from ent_migrate.connectors.aaf.writer import aaf_projection, write_aaf
from ent_migrate.fixtures.generator import generate
from ent_migrate.model import Person, Profile, Record
from tests.connectors.aaf.helpers import read_all

ACCOUNTS = 1500


def district_records(seed: int) -> list[Record]:
    records: list[Record] = []
    for batch in generate(ACCOUNTS, seed, content=False):
        records += [
            batch.structure,
            *batch.groups,
            *batch.people,
            *batch.functions,
            *batch.memberships,
            *batch.guardianships,
        ]
    return records


@pytest.mark.parametrize(
    ("degree", "encoding", "prefix"),
    [("2D", "UTF-8", ""), ("1D", "UTF-8", ""), ("2D", "ISO-8859-15", "AC-RENNES$")],
)
def test_generated_district_round_trips(tmp_path: Path, degree: str, encoding: str, prefix: str) -> None:
    paths = write_aaf(
        generate(ACCOUNTS, 7, content=False), tmp_path, degree=degree, page_size=300, encoding=encoding, prefix=prefix
    )
    assert any(p.name.endswith("_Eleve_0001.xml") for p in paths)  # paginated
    assert all(p.read_bytes().startswith(f'<?xml version="1.0" encoding="{encoding}"?>'.encode()) for p in paths)
    records, problems = read_all(tmp_path, academy_prefix=prefix)
    assert problems == []
    read = {(r.kind, r.key): r for r in records}
    assert len(read) == len(records)  # nothing read twice
    expected = {(r.kind, r.key): r for r in aaf_projection(district_records(7), degree=degree, prefix=prefix)}
    assert sorted(read.keys() - expected.keys()) == []
    assert sorted(expected.keys() - read.keys()) == []
    assert [k for k in expected if expected[k] != read[k]] == []


def test_projection_is_idempotent() -> None:
    once = aaf_projection(district_records(3), degree="2D")
    assert aaf_projection(once, degree="2D") == once


def test_modify_and_delete_requests(tmp_path: Path) -> None:
    records = district_records(5)[:40]
    write_aaf(records, tmp_path, delta=True, modify=True, deletes=[("Eleve", "1")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert all("_Delta_" in n for n in names if n.endswith(".xml"))
    text = "".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("*.xml"))
    assert '<modification name="ENTPersonJointure" operation="replace">' in text
    assert "<deleteRequest>" in text
    assert "<addRequest>" not in text


def test_1d_and_2d_feeds_together_count_each_guardian_once(tmp_path: Path) -> None:
    """Issue 9 item 10: a family with children in a primary school and a collège is in both feeds; read
    (or ``inspect``ed) together, each guardian is one record, and nothing is reported for it."""
    from ent_migrate.cli._inspect import COUNT_KEYS, count_record  # the counting ``inspect`` does
    from ent_migrate.fixtures.generator import batches_of_degree

    for degree in ("1D", "2D"):
        write_aaf(batches_of_degree(generate(ACCOUNTS, 7, content=False), degree), tmp_path / degree, degree=degree)
    both = {p.name for p in (tmp_path / "1D").glob("*PersRelEleve*")} | {
        p.name for p in (tmp_path / "2D").glob("*PersRelEleve*")
    }
    assert both  # two feeds
    records, problems = read_all(tmp_path)
    assert [p["code"] for p in problems] == []
    keys = [(r.kind, r.key) for r in records]
    assert len(keys) == len(set(keys))  # nothing twice: shared guardians are one person
    expected = {r.id for r in district_records(7) if isinstance(r, Person) and r.profile is Profile.GUARDIAN}
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for record in records:
        count_record(counts, record)
    assert counts["guardians"] == len(expected)
