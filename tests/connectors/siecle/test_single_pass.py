"""One parse of each file for every reader: the index pass spools what the readers need, and the
readers replay it with the records and problems separate passes gave, until the files change."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from lxml import etree

from ent_migrate import xmlsafe
from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.connectors.siecle import connector as siecle_connector
from ent_migrate.contract import Capability
from ent_migrate.model import Guardianship, Membership, Person, Record

COLLEGE = Path(__file__).resolve().parent / "data" / "college"
ORDER = (Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS)


def export(folder: Path) -> Path:
    """The college export plus a problem each reader reports itself: a bad birth date (accounts) and a
    service taught by a teacher STS does not list (relations)."""
    shutil.copytree(COLLEGE, folder)
    eleves = folder / "ElevesSansAdresses.xml"
    eleves.write_bytes(eleves.read_bytes().replace(b"<DATE_NAISS>14/03/2013", b"<DATE_NAISS>2013-03-14", 1))
    sts = folder / "sts_emp_0350001L_2024.xml"
    text = sts.read_bytes()
    sts.write_bytes(
        text[: text.rindex(b'ENSEIGNANT ID="4001"')]
        + text[text.rindex(b'ENSEIGNANT ID="4001"') :].replace(b'ENSEIGNANT ID="4001"', b'ENSEIGNANT ID="4999"', 1)
    )
    return folder


def counts(connector: SiecleConnector) -> dict[str, tuple[int, list[str]]]:
    return {p.code: (p.count, p.examples) for p in connector.problems}


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The label of every file parse (each call of the XML layer by the connector is one; file discovery
    only sniffs the heads, through its own module)."""
    calls: list[str] = []
    original = xmlsafe.iter_elements  # the function the connector module imported

    def elements(stream: IO[bytes], name: str, *args: Any, **kwargs: Any) -> Iterator[etree._Element]:
        calls.append(name)
        yield from original(stream, name, *args, **kwargs)

    monkeypatch.setattr(siecle_connector, "iter_elements", elements)
    return calls


def test_each_file_is_parsed_once_for_every_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = export(tmp_path / "x")
    fresh = {c: list(SiecleConnector(str(folder)).read(c)) for c in ORDER}
    calls = count_parses(monkeypatch)
    connector = SiecleConnector(str(folder))
    got = {c: list(connector.read(c)) for c in ORDER}
    assert got == fresh
    assert sorted(calls) == sorted(p.name for p in folder.iterdir())  # four files, four parses
    problems = counts(connector)
    assert problems["date.invalid"][0] == 1  # from the accounts reader, once
    assert problems["ref.dangling"][0] == 1  # from the relations reader, once
    assert sum(isinstance(r, Membership) for r in got[Capability.RELATIONS]) > 0
    assert sum(isinstance(r, Guardianship) for r in got[Capability.RELATIONS]) > 0
    again = {c: list(connector.read(c)) for c in ORDER}
    assert again == got
    assert counts(connector) == problems  # a replay reports nothing twice
    assert len(calls) == 4


@pytest.mark.parametrize("order", list(itertools.permutations(ORDER)))
def test_any_reading_order_gives_the_same_records_and_problems(tmp_path: Path, order: tuple[Capability, ...]) -> None:
    folder = export(tmp_path / "x")
    reference = SiecleConnector(str(folder))
    expected = {c: list(reference.read(c)) for c in ORDER}
    connector = SiecleConnector(str(folder))
    assert {c: list(connector.read(c)) for c in order} == expected
    assert {k: v[0] for k, v in counts(connector).items()} == {k: v[0] for k, v in counts(reference).items()}


def test_changed_files_are_indexed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = export(tmp_path / "x")
    connector = SiecleConnector(str(folder))
    before = [r for r in connector.read_accounts() if isinstance(r, Person)]
    assert connector.problems.count("date.invalid") == 1
    eleves = folder / "ElevesSansAdresses.xml"
    eleves.write_bytes(eleves.read_bytes().replace(b"<DATE_NAISS>2013-03-14", b"<DATE_NAISS>14/03/2013", 1))
    os.utime(eleves, ns=(1, 1))  # same size: the modification time tells the change
    calls = count_parses(monkeypatch)
    after = [r for r in connector.read_accounts() if isinstance(r, Person)]
    assert len(calls) == 4
    assert connector.problems.count("date.invalid") == 0  # the problems describe the files as they are now
    assert [p.id for p in after] == [p.id for p in before]
    assert [p.birth_date for p in after] != [p.birth_date for p in before]


def test_close_drops_the_spools_and_a_new_read_parses_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = export(tmp_path / "x")
    connector = SiecleConnector(str(folder))
    first: list[Record] = list(connector.read_relations())
    connector.close()
    assert connector._index_cache is None
    calls = count_parses(monkeypatch)
    assert list(connector.read_relations()) == first
    assert len(calls) == 4


def test_a_reader_under_way_survives_a_new_index(tmp_path: Path) -> None:
    folder = export(tmp_path / "x")
    connector = SiecleConnector(str(folder))
    expected = list(SiecleConnector(str(folder)).read_relations())
    reader = connector.read_relations()
    head = [next(reader) for _ in range(2)]
    os.utime(folder / "Nomenclature.xml", ns=(1, 1))
    list(connector.read_accounts())  # the files changed: a new index and new spools
    assert head + list(reader) == expected  # the old reader finishes on the spools it started with
