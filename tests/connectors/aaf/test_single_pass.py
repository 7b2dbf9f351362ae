"""One parse for every reader: the first read spools the others' records; later reads replay them,
with the same records and the same problems as a fresh pass, until the bundle changes."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.connectors.aaf import AafConnector
from ent_migrate.connectors.aaf.cache import RecordSpool
from ent_migrate.contract import Capability
from ent_migrate.errors import UnreachableError
from ent_migrate.model import Group, GroupKind, Guardianship, Membership, Person, Profile, Record
from ent_migrate.xmlsafe import Spool
from tests.connectors.aaf.helpers import document, etab, guardian, line_of, pupil, staff, write_bundle

ORDER = (Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS)


def bundle(folder: Path, pupils: int = 30) -> Path:
    """A small bundle with relations and a few problems (a bad date, a dangling parent, an orphan)."""
    guardians = [guardian(str(3000 + i)) for i in range(pupils)] + [guardian("3999")]  # 3999: orphan
    people = [
        pupil(str(2000 + i), parents=[f"{3000 + i}$10$0$1$0$0", "4999$20$0$1$0$0" if i == 3 else ""])
        for i in range(pupils)
    ]
    people.append(pupil("2999", ENTPersonDateNaissance="2013-09-01"))  # date.invalid
    return write_bundle(
        folder,
        {
            "EtabEducNat": document([etab(classes=("6A$6EME A", "6B$6EME B"))]),
            "PersRelEleve": document(guardians),
            "Eleve": document(people),
            "PersEducNat": document([staff("5000", ["10$ENS$ENSEIGNEMENT$L0202$LETTRES"])]),
        },
    )


def read_in(connector: AafConnector, order: tuple[Capability, ...]) -> dict[Capability, tuple[list[Record], list]]:  # type: ignore[type-arg]  # test helper
    out = {}
    for capability in order:
        out[capability] = (list(connector.read(capability)), connector.problems.to_list())
    return out


def count_passes(monkeypatch: object) -> list[int]:
    """Count the parses of the bundle (each ``_scan`` is one)."""
    calls: list[int] = []
    original = AafConnector._scan

    def scan(self: AafConnector):  # type: ignore[no-untyped-def]  # wraps a private generator
        calls.append(1)
        yield from original(self)

    monkeypatch.setattr(AafConnector, "_scan", scan)  # type: ignore[attr-defined]  # pytest's MonkeyPatch
    return calls


def test_one_parse_serves_every_reader_with_the_same_records_and_problems(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # fixture
    folder = bundle(tmp_path / "b")
    fresh = {c: read_in(AafConnector(str(folder)), (c,))[c] for c in ORDER}  # one new connector per reader
    calls = count_passes(monkeypatch)
    connector = AafConnector(str(folder))
    cached = read_in(connector, ORDER)
    assert len(calls) == 1  # accounts parsed the bundle; groups and relations came from the spool
    assert cached == fresh
    problems = {p["code"]: p["count"] for p in cached[Capability.RELATIONS][1]}
    assert problems == {"date.invalid": 1, "ref.dangling": 1, "guardian.orphan": 1}  # counted once, not per read
    relations = cached[Capability.RELATIONS][0]
    assert sum(isinstance(r, Guardianship) for r in relations) == 30
    assert sum(isinstance(r, Membership) for r in relations) == 31
    assert any(isinstance(r, Person) and r.profile is Profile.TEACHER for r in cached[Capability.ACCOUNTS][0])
    groups = [g for g in cached[Capability.GROUPS][0] if isinstance(g, Group)]
    assert len(groups) == len(cached[Capability.GROUPS][0])  # the groups reader gives groups only
    assert {g.code for g in groups} == {"6A", "6B"}
    assert all(g.group_kind is GroupKind.CLASS for g in groups)
    # Any reader may come first; the live one is parsed again when asked twice, the others replay.
    other = AafConnector(str(folder))
    assert read_in(other, (Capability.RELATIONS, Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS)) == {
        c: fresh[c] for c in ORDER
    }
    assert len(calls) == 3


def test_each_read_hands_out_its_own_problems(tmp_path: Path) -> None:
    connector = AafConnector(str(bundle(tmp_path / "b")))
    list(connector.read_accounts())
    connector.problems.add("record.invalid", "caller:1")  # a caller adding to the collector it was given
    list(connector.read_groups())
    assert connector.problems.count("record.invalid") == 0
    assert connector.problems.count("date.invalid") == 1


def test_a_changed_bundle_is_parsed_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # fixture
    folder = bundle(tmp_path / "b", pupils=5)
    calls = count_passes(monkeypatch)
    connector = AafConnector(str(folder))
    assert len(list(connector.read_accounts())) == 1 + 6 + 6 + 1 + 1  # structure, pupils, guardians, teacher+function
    bundle(folder, pupils=8)
    os.utime(next(folder.glob("*_Eleve_*")), ns=(1, 1))  # even with the same size, the file changed
    relations = list(connector.read_relations())
    assert len(calls) == 2
    assert sum(isinstance(r, Guardianship) for r in relations) == 8


def test_an_abandoned_pass_keeps_no_spool(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # fixture
    folder = bundle(tmp_path / "b")
    calls = count_passes(monkeypatch)
    connector = AafConnector(str(folder))
    reader = connector.read_accounts()
    assert isinstance(reader, Generator)  # typed as an Iterator; closing it is what this test is about
    next(reader)
    reader.close()  # the consumer stopped: the other readers' spools are incomplete
    assert connector._complete is None
    assert len(list(connector.read_relations())) == 61
    assert len(calls) == 2
    connector.close()
    assert connector._complete is None
    assert len(list(connector.read_relations())) == 61  # still readable after close: a new pass
    assert len(calls) == 3


def test_a_missing_bundle_still_raises(tmp_path: Path) -> None:
    connector = AafConnector(str(tmp_path / "nope"))
    with pytest.raises(UnreachableError, match="no such file"):
        list(connector.read_groups())


def test_record_spool_restores_equal_records(tmp_path: Path) -> None:
    folder = bundle(tmp_path / "b")
    records = [r for c in ORDER for r in AafConnector(str(folder)).read(c)]
    spool = RecordSpool()
    for record in records:
        spool.append(record)
    assert len(spool) == len(records)
    restored = list(spool)
    assert restored == records
    assert [r.fingerprint() for r in restored] == [r.fingerprint() for r in records]
    assert [type(r) for r in restored] == [type(r) for r in records]
    spool.close()


@given(st.lists(st.tuples(st.text(), st.integers(), st.none() | st.text()), max_size=3000))
def test_spool_streams_back_every_row_in_order(rows: list[tuple[str, int, str | None]]) -> None:
    spool = Spool()
    for row in rows:
        spool.append(row)
    assert list(spool) == rows
    assert list(spool) == rows  # as often as asked
    halves = iter(spool), iter(spool)  # two interleaved readers do not disturb each other
    assert [(a, b) for a, b in zip(*halves, strict=True)] == [(r, r) for r in rows]
    assert len(spool) == len(rows)
    spool.close()


def test_orphans_with_guardians_read_twice_or_after_their_pupil(tmp_path: Path) -> None:
    """guardian.orphan keeps one packed position per guardian: a guardian read twice is reported at
    its last position. A complete bundle never asks the engine's known-people lookup: a guardian whose
    request comes after its pupil's (a PersRelEleve request inside an Eleve file) is dangling there."""
    guardians = document([guardian("500"), guardian("501"), guardian("500"), guardian("502")])
    eleves = document([pupil("100", parents=["502$10$0$1$0$0", "600$20$0$1$0$0"]), guardian("600")])
    folder = write_bundle(
        tmp_path / "b", {"EtabEducNat": document([etab()]), "PersRelEleve": guardians, "Eleve": eleves}
    )
    connector = AafConnector(str(folder))
    connector.use_known_people({"600"}.__contains__)
    relations = list(connector.read_relations())
    assert {r.guardian_id for r in relations if isinstance(r, Guardianship)} == {"502"}
    problems = {p.code: p for p in connector.problems}
    assert problems["ref.dangling"].details == ["guardian absent from the source"]
    orphans = problems["guardian.orphan"]
    assert orphans.count == 3
    name = "ENT2D_Complet_20240916_PersRelEleve_0000.xml"
    assert orphans.examples[:2] == [f"{name}:{line_of(guardians, 2)}", f"{name}:{line_of(guardians, 1)}"]
    assert "person.duplicate" not in problems  # the same guardian twice, with the same values


def test_a_replay_survives_a_new_pass(tmp_path: Path) -> None:
    connector = AafConnector(str(bundle(tmp_path / "b")))
    list(connector.read_accounts())
    expected = list(AafConnector(str(tmp_path / "b")).read_relations())
    replay = connector.read_relations()  # from the spool
    head = [next(replay) for _ in range(3)]
    list(connector.read_accounts())  # parses again: a new set of spools replaces the one being replayed
    assert head + list(replay) == expected
