"""Stored and probe blocking keys: a dated and an undated person of one profile group meet; guardians
meet through children only; the keys of a person with both dates or neither are unchanged."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.matching import PersonFacts, block_keys, probe_keys, score

BORN = dt.date(1980, 4, 4)


def _facts(key: str, profile: str, born: dt.date | None, last: str = "Lefèvre", first: str = "Anne") -> PersonFacts:
    return PersonFacts(key=key, profile=profile, last_name=last, first_name=first, birth_date=born)


def _meet(a: PersonFacts, b: PersonFacts) -> bool:
    """Does *a*, looking, find *b* stored (what correlate and the state store do)?"""
    return bool(set(probe_keys(a)) & set(block_keys(b)))


def test_a_teacher_without_a_birth_date_meets_the_dated_one_both_ways() -> None:
    dated, undated = _facts("a", "teacher", BORN), _facts("b", "teacher", None, "LEFEVRE", "anne")
    assert _meet(undated, dated)
    assert _meet(dated, undated)
    # and a documentaliste filed as staff on one side
    assert _meet(_facts("c", "staff", None), dated)


def test_profile_groups_keep_pupils_and_staff_apart() -> None:
    assert not _meet(_facts("a", "student", None), _facts("b", "teacher", BORN))


def test_guardians_do_not_meet_dated_namesakes_by_name() -> None:
    """An académie has thousands of namesakes among guardians: they meet through children only."""
    assert not _meet(_facts("a", "guardian", None), _facts("b", "guardian", BORN))


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), st.booleans())
def test_two_dated_or_two_undated_people_meet_exactly_as_before(last: str, first: str, dated: bool) -> None:
    born = BORN if dated else None
    a, b = _facts("a", "student", born, last, first), _facts("b", "student", born, last.upper(), first)
    shared = set(block_keys(a)) & set(block_keys(b))
    assert _meet(a, b) == bool(shared - {k for k in shared if k.startswith(("d:", "u:"))})


def test_a_teacher_and_a_member_of_staff_may_be_one_person_other_profiles_never() -> None:
    doc_aaf, doc_siecle = _facts("a", "teacher", BORN), _facts("b", "staff", BORN)
    verdict = score(doc_aaf, doc_siecle)
    assert verdict.decision == "match"
    assert "profile" in verdict.differed
    assert score(_facts("a", "student", BORN), _facts("b", "guardian", BORN)).decision == "none"
