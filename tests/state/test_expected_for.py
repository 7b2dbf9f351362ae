"""Issue 15: plan and verify look up a batch's stored expectations one query per kind, the keys bound as
one parameter: a key is matched within its own kind only, and every record asked for and held is found."""

from __future__ import annotations

from sqlalchemy import Engine

from ent_migrate.model import Person, Profile, Record, Structure
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
