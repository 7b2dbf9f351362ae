"""Issue 15: plan and verify look up a batch's stored expectations one query per kind, the keys bound as
one parameter: a key is matched within its own kind only, and every record asked for and held is found."""

from __future__ import annotations

from sqlalchemy import Engine, text

from ent_migrate.model import Person, Profile, Record, RecordKind, Structure, fingerprint_of
from ent_migrate.state import StateStore, upgrade


def test_each_record_is_found_in_its_own_kind_only(engine: Engine) -> None:
    upgrade(engine)
    state = StateStore(engine)
    run_id = state.runs.open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
    # A person whose id reads like a UAI: the structure's key and the person's are the same text.
    school = Structure(uai="0800579V", name="Collège")
    twin = Person(id="0800579V", profile=Profile.STUDENT, last_name="A", first_name="B", structures=("0800579V",))
    many: list[Record] = [
        Person(id=f"p{i}", profile=Profile.TEACHER, last_name="C", first_name="D", structures=("0800579V",))
        for i in range(1500)  # more keys than SQLite binds in one statement by default
    ]
    state.items.put_extracted(run_id, [school, twin, *many])
    assert set(state.items.expected_for(run_id, [school])) == {("structure", "0800579V")}
    assert set(state.items.expected_for(run_id, [twin])) == {("person", "0800579V")}
    absent = Person(id="nobody", profile=Profile.STUDENT, last_name="E", first_name="F")
    found = state.items.expected_for(run_id, [school, twin, absent, *many])
    assert set(found) == {("structure", "0800579V"), ("person", "0800579V")} | {
        ("person", f"p{i}") for i in range(1500)
    }
    assert len({row.id for row in found.values()}) == len(found)
    assert state.items.expected_for(run_id, []) == {}


def test_a_record_expected_as_the_source_gave_it_is_not_copied(engine: Engine) -> None:
    """map expects most kinds as extracted: the store keeps no second copy (target_payload NULL, the
    source's fingerprint), and every reader still gets the source's record as the expected one."""
    upgrade(engine)
    state = StateStore(engine)
    run_id = state.runs.open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
    school = Structure(uai="0800579V", name="Collège")
    pupil = Person(id="p1", profile=Profile.STUDENT, last_name="A", first_name="B", structures=("0800579V",))
    state.items.put_extracted(run_id, [school, pupil])
    assert state.items.expect_as_extracted(run_id, except_kind=RecordKind.PERSON) == 1
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT target_payload, target_fingerprint, source_fingerprint FROM items WHERE kind = 'structure'")
        ).one()
    assert stored[0] is None
    assert stored[1] == stored[2] == fingerprint_of(school.to_dict())
    found = state.items.expected_for(run_id, [school, pupil])
    assert found["structure", "0800579V"].target_payload == school.to_dict()
    assert found["person", "p1"].target_payload is None  # not expected yet: not the source's record either
    assert state.items.expected_for(run_id, [school], payloads=False)["structure", "0800579V"].target_payload is None
    # A store an older version wrote holds the copy: read the same.
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET target_payload = payload WHERE kind = 'structure'"))
    assert state.items.expected_for(run_id, [school])["structure", "0800579V"].target_payload == school.to_dict()
    # A record map changes is stored as changed; one map drops is no longer expected at all.
    (person_id, *_), *_ = next(state.items.scan_source(run_id, RecordKind.PERSON))
    state.items.set_expected([(person_id, {**pupil.to_dict(), "login": "b.a"})])
    state.items.drop_expected([found["structure", "0800579V"].id], "mapping")
    found = state.items.expected_for(run_id, [school, pupil])
    assert found["person", "p1"].target_payload == {**pupil.to_dict(), "login": "b.a"}
    assert (found["structure", "0800579V"].target_payload, found["structure", "0800579V"].target_fingerprint) == (
        None,
        None,
    )
