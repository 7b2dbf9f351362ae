from __future__ import annotations

import datetime as dt

import pytest

from ent_migrate.matching import DEFAULT_WEIGHTS, PersonFacts, Weights, score
from ent_migrate.model import Person, Profile

BORN = dt.date(2012, 3, 4)


def pupil(key: str, last: str, first: str, **kw: object) -> PersonFacts:
    return PersonFacts(key=key, profile="student", last_name=last, first_name=first, **kw)  # type: ignore[arg-type]  # test helper forwards keywords


def test_from_payload_reads_a_person_dict() -> None:
    person = Person(
        id="s1",
        profile=Profile.STUDENT,
        last_name="Durand",
        first_name="Léa",
        birth_date=BORN,
        ine="1234567890A",
        structures=("0690001A",),
    )
    facts = PersonFacts.from_payload("s1", person.to_dict())
    assert (facts.birth_date, facts.ine, facts.structures, facts.profile) == (
        BORN,
        "1234567890A",
        ("0690001A",),
        "student",
    )


def test_same_names_and_birth_date_match_and_say_why() -> None:
    e = score(pupil("a", "Dupré", "Léa", birth_date=BORN), pupil("b", "DUPRE", "Lea", birth_date=BORN))
    assert e.decision == "match"
    assert e.matched == ("last_name", "first_name", "birth_date")
    assert e.differed == ()


def test_twins_do_not_match() -> None:
    e = score(pupil("a", "Martin", "Léo", birth_date=BORN), pupil("b", "Martin", "Lou", birth_date=BORN))
    assert e.decision == "none"
    assert "first_name" in e.differed


def test_homonyms_with_other_birth_dates_do_not_match() -> None:
    e = score(pupil("a", "Martin", "Léo", birth_date=BORN), pupil("b", "Martin", "Léo", birth_date=dt.date(2012, 9, 1)))
    assert e.decision == "none"
    assert "birth_date" in e.differed


def test_swapped_names_with_birth_date_and_school_match() -> None:
    a = pupil("a", "Thomas", "Bernard", birth_date=BORN, structures=("0690001A",))
    b = pupil("b", "Bernard", "Thomas", birth_date=BORN, structures=("0690001A",))
    e = score(a, b)
    assert "swapped" in e.matched
    assert e.decision == "match"
    assert (
        score(
            pupil("a", "Thomas", "Bernard", birth_date=BORN), pupil("b", "Bernard", "Thomas", birth_date=BORN)
        ).decision
        == "review"
    )


def test_usage_against_birth_name() -> None:
    a = PersonFacts("a", "teacher", "Moreau", "Anne", birth_name="Petit", birth_date=dt.date(1980, 1, 1))
    b = PersonFacts("b", "teacher", "Petit", "Anne", birth_date=dt.date(1980, 1, 1))
    e = score(a, b)
    assert "birth_name" in e.matched
    assert e.decision == "match"


def test_shared_ine_on_different_people_is_a_conflict_for_review() -> None:
    a = pupil("a", "Martin", "Léo", birth_date=BORN, ine="1111111111A")
    b = pupil("b", "Roux", "Inès", birth_date=dt.date(2011, 1, 1), ine="1111111111A")
    e = score(a, b)
    assert e.decision == "review"
    assert "ine" in e.matched
    assert "birth_date" in e.differed


def test_different_ine_never_matches_on_names() -> None:
    a = pupil("a", "Martin", "Léo", birth_date=BORN, ine="1111111111A")
    b = pupil("b", "Martin", "Léo", birth_date=BORN, ine="2222222222B")
    assert score(a, b).decision == "none"


def test_guardian_through_children() -> None:
    a = PersonFacts("g1", "guardian", "Durand", "Paul", children_ines=("1111111111A",))
    b = PersonFacts("g2", "guardian", "Durand", "Paul", children_ines=("1111111111A", "2222222222B"))
    assert score(a, b).decision == "match"
    assert (
        score(PersonFacts("g1", "guardian", "Durand", "Paul"), PersonFacts("g3", "guardian", "Durand", "Paul")).decision
        == "review"
    )


def test_profiles_differ_no_match() -> None:
    e = score(
        pupil("a", "Martin", "Léo", birth_date=BORN), PersonFacts("b", "teacher", "Martin", "Léo", birth_date=BORN)
    )
    assert e.decision == "none"
    assert e.differed == ("profile",)


def test_weights_are_configurable_and_checked() -> None:
    strict = Weights(accept=1.5, review=0.9)
    a, b = pupil("a", "Dupré", "Léa", birth_date=BORN), pupil("b", "Dupre", "Lea", birth_date=BORN)
    assert score(a, b, DEFAULT_WEIGHTS).decision == "match"
    assert score(a, b, strict).decision == "review"
    with pytest.raises(ValueError, match="review threshold"):
        Weights(accept=0.5, review=0.9)
