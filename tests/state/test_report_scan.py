"""Issue 15: the report's scan decodes one payload per item, and none for a kind that names no school
(a guardianship, a message): what the report reads must be unchanged, sealed or not, on both back-ends
(on SQLite through crypto.EncryptedJSON's one-call decoder)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine

from ent_migrate.model import Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.state import StateStore, upgrade
from ent_migrate.state.crypto import PayloadCipher, attach_cipher

_RECORDS: list[Record] = [
    Structure(uai="0800579V", name="Collège Ève\u2028"),
    Person(id="p1", profile=Profile.STUDENT, last_name="N'Diaye", first_name="Anaïs", structures=("0800579V",)),
    Person(id="p2", profile=Profile.GUARDIAN, last_name="N'Diaye", first_name="Awa", source_ids=(str(2**70),)),
    Membership(person_id="p1", uai="0800579V", group_code="3A"),
    Guardianship(guardian_id="p2", student_id="p1", legal_level=1),
]


def _store(engine: Engine, sealed: bool) -> tuple[StateStore, str]:
    upgrade(engine)
    if sealed:
        attach_cipher(engine, PayloadCipher(b"a test key, not a real one, 32 bytes"))
    state = StateStore(engine)
    return state, state.runs.open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")


@pytest.mark.parametrize("sealed", [False, True], ids=["clear", "sealed"])
def test_the_report_scan_reads_what_it_needs_and_only_that(engine: Engine, sealed: bool) -> None:
    state, run_id = _store(engine, sealed)
    state.items.put_extracted(run_id, _RECORDS)
    rows = {(r.kind, r.key): r for batch in state.items.scan_for_report(run_id) for r in batch}
    assert set(rows) == {(str(r.kind), r.key) for r in _RECORDS}
    for record in _RECORDS:
        row = rows[(str(record.kind), record.key)]
        has_school = isinstance(record, Person) or "uai" in {f.name for f in dataclasses.fields(record)}
        assert row.payload == (record.to_dict() if has_school else None)


@pytest.mark.parametrize("sealed", [False, True], ids=["clear", "sealed"])
def test_children_are_read_for_the_guardians_asked_only(engine: Engine, sealed: bool) -> None:
    # Reconcile asks a batch at a time, by key range: an id holding "|" must not bring another's child,
    # nor lose its own (a key "g1|c|6" is read from its payload: the key alone cannot say which "|").
    state, run_id = _store(engine, sealed)
    links = [("g1", "c1"), ("g1", "c2"), ("g1|x", "c3"), ("g10", "c4"), ("g2", "c5"), ("g1", "c|6")]
    state.items.put_extracted(run_id, [Guardianship(guardian_id=g, student_id=c) for g, c in links])
    mine = {"g1": ["c1", "c2", "c|6"], "g2": ["c5"]}
    assert state.items.children_of(run_id, ["g1", "g2", "nobody"]) == mine
    assert state.items.children_of(run_id, ["g1|x"]) == {"g1|x": ["c3"]}
    many = [f"g{i}" for i in range(450)]  # more than one query's worth of ranges
    assert state.items.children_of(run_id, many) == {**mine, "g10": ["c4"]}
    assert state.items.children_of(run_id, []) == {}


def test_children_are_found_whatever_the_database_collation(french_engine: Engine) -> None:
    # The key range "g1|" to "g1}" is empty under a French collation, which ignores "|" and "}": the
    # keys compare code point by code point there too (revision 0007), or no guardian ever joins
    # through their children.
    state, run_id = _store(french_engine, sealed=False)
    with french_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 'g1|c' < 'g1}'").scalar() is False  # the database's own order
    links = [("g1", "c1"), ("g1", "c|6"), ("g10", "c4"), ("g1|x", "c3")]
    state.items.put_extracted(run_id, [Guardianship(guardian_id=g, student_id=c) for g, c in links])
    assert state.items.children_of(run_id, ["g1", "g10", "g1|x"]) == {
        "g1": ["c1", "c|6"],
        "g10": ["c4"],
        "g1|x": ["c3"],
    }


def test_the_report_scan_reads_every_item_once_across_batches(engine: Engine) -> None:
    # Keyset pagination by id, BATCH rows a query: nothing skipped or read twice at the boundaries.
    state, run_id = _store(engine, sealed=False)
    people = [Person(id=f"p{i}", profile=Profile.STUDENT, last_name="N", first_name="A") for i in range(2345)]
    state.items.put_extracted(run_id, people)
    batches = list(state.items.scan_for_report(run_id))
    assert [len(b) for b in batches] == [1000, 1000, 345]
    assert [r.key for b in batches for r in b] == [p.id for p in people]
    assert all(r.from_source and not r.expected for b in batches for r in b)
