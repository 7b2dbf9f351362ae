"""Generated écoles written by connectors/onde/writer.py and read back by ``onde:`` give exactly the
generated records under :func:`onde_projection` (the one place that says what ONDE cannot carry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ent_migrate.connectors.onde import OndeConnector
from ent_migrate.connectors.onde.writer import onde_projection, write_onde, write_school
from ent_migrate.fixtures.generator import generate
from ent_migrate.model import Record

Snapshot = dict[tuple[str, str], Record]


def snapshot(records: list[Record]) -> Snapshot:
    out: Snapshot = {}
    for record in records:
        assert (record.kind, record.key) not in out, f"{record.kind} {record.key} read twice"
        out[(str(record.kind), record.key)] = record
    return out


@pytest.mark.parametrize(("seed", "encoding"), [(3, "iso-8859-15"), (6, "utf-8"), (9, "cp1252")])
def test_generated_ecoles_round_trip(tmp_path: Path, seed: int, encoding: str) -> None:
    schools = 0
    for batch in generate(2600, seed, content=False):
        if batch.degree != "1D":
            continue
        folder = write_school(batch, tmp_path / batch.structure.uai, encoding=encoding)
        assert (folder / "CSVExtraction-eleves.csv").read_bytes().count(b"\r\n") > 1
        connector = OndeConnector(str(folder), {"uai": batch.structure.uai})
        actual = snapshot([*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()])
        expected = snapshot(onde_projection(batch, encoding=encoding))
        # homonymous pupils in one class make their guardians' links ambiguous: reported, never guessed
        assert {p.code for p in connector.problems} <= {"link.ambiguous"}
        assert sorted(expected.keys() - actual.keys()) == []
        assert sorted(actual.keys() - expected.keys()) == []
        assert [(actual[k], v) for k, v in expected.items() if actual[k].fingerprint() != v.fingerprint()] == []
        schools += 1
    assert schools >= 3


def test_write_onde_streams_a_district(tmp_path: Path) -> None:
    folders = write_onde(generate(5000, 2, content=False), tmp_path)
    assert [f.name for f in folders] == [b.structure.uai for b in generate(5000, 2, content=False) if b.degree == "1D"]
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [
            "CSVExtraction-eleves.csv",
            "CSVExtraction-enseignants.csv",
            "CSVExtraction-responsables.csv",
        ]
