"""Several sources on one state store: an id is a source's own, a jointure is shared, facts grow,
and people with and without a birth date still meet."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Guardianship, Person, Profile, Record
from ent_migrate.pipeline import PipelineContext, do_plan, do_run
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import UAI, context, engine, fill

BORN = dt.date(2014, 2, 3)


def _person(pid: str, last: str, first: str, profile: Profile = Profile.STUDENT, **extra: Any) -> Person:
    return Person(id=pid, profile=profile, last_name=last, first_name=first, structures=(UAI,), **extra)


def _plan(tmp_path: Path, db: Engine, name: str, records: list[Record], **options: Any) -> PipelineContext:
    """Plan one source named *name* (its own memory store) on the shared state store."""
    fill(MemoryConnector.named_store(name), iter((r, None) for r in records))
    ctx = context(tmp_path / name, source=f"memory:{name}", source_name=name, source_options=options, db=db)
    do_plan(ctx, open_run(ctx))
    return ctx


def test_the_same_id_in_two_sources_is_two_people_until_the_score_says_one(tmp_path: Path) -> None:
    db = engine(tmp_path)
    _plan(tmp_path, db, "college", [_person("7", "Dupont", "Marie", birth_date=BORN), _person("8", "Roy", "Léa")])
    ecole = _plan(
        tmp_path,
        db,
        "ecole",
        [
            _person("7", "Martin", "Hugo", birth_date=dt.date(2013, 9, 9)),  # another pupil under the same id
            _person("8", "ROY", "Lea"),  # the same pupil, spelt otherwise: scored, not merged by the id
        ],
    )
    ids = ecole.state.identities
    college, here = ids.canonical_of("college", ["7", "8"]), ids.canonical_of("ecole", ["7", "8"])
    assert here["7"] != college["7"]  # no silent merge on an equal string
    assert here["7"] == "ecole:7"  # the second founder's id says whose it is
    assert ids.facts_of([here["7"]])[here["7"]]["founder"][:2] == ["ecole", "7"]
    # The namesake with no birth date on either side goes to review rather than to an automatic merge.
    queued = {(e["source"], e["person_key"], e["candidate_key"]) for e in ecole.state.review.entries()}
    assert queued == {("ecole", "8", college["8"])}
    assert here["8"] != college["8"]


def test_jointures_join_across_sources_and_other_ids_do_not(tmp_path: Path) -> None:
    db = engine(tmp_path)
    _plan(tmp_path, db, "aaf", [_person("J1", "Dupont", "Marie", birth_date=BORN)], jointure_ids=True)
    # The old ENT's directory keeps the jointure, a usage name and no birth date.
    ldap = _plan(tmp_path, db, "ldap", [_person("J1", "Dupont-Roy", "Marie")], jointure_ids=True)
    # A package whose ids merely look the same, for someone else.
    other = _plan(tmp_path, db, "package", [_person("J1", "Petit", "Noé", birth_date=dt.date(2012, 1, 1))])
    ids = ldap.state.identities
    aaf = ids.canonical_of("aaf", ["J1"])["J1"]
    assert ids.canonical_of("ldap", ["J1"])["J1"] == aaf
    assert ids.canonical_of("package", ["J1"])["J1"] != aaf
    facts = ids.facts_of([aaf])[aaf]
    assert facts["jointure"] == "J1"
    assert facts["matches"]["J1"]["method"] == "jointure"
    assert other.state.review.pending_count() == 0


def test_a_joined_identity_keeps_what_its_aliases_brought(tmp_path: Path) -> None:
    """The académie's record knows one child, a school's both, the other school's only the second:
    the third joins through the child the second brought to the identity."""
    db = engine(tmp_path)
    c1 = _person("c1", "Petit", "Lou", birth_date=BORN, ine="0000000041A")
    c2 = _person("c2", "Petit", "Sam", birth_date=dt.date(2016, 5, 5), ine="0000000042A")

    def guardian(pid: str, *children: Person) -> list[Record]:
        return [
            *children,
            _person(pid, "Petit", "Karim", Profile.GUARDIAN),
            *(Guardianship(guardian_id=pid, student_id=c.id, legal_level=1) for c in children),
        ]

    _plan(tmp_path, db, "aaf", guardian("g-aaf", c1))
    both = _plan(tmp_path, db, "siecle", guardian("g-siecle", c1, c2))
    third = _plan(tmp_path, db, "onde", guardian("g-onde", c2))
    ids = third.state.identities
    founder = ids.canonical_of("aaf", ["g-aaf"])["g-aaf"]
    assert ids.canonical_of("siecle", ["g-siecle"])["g-siecle"] == founder
    assert ids.canonical_of("onde", ["g-onde"])["g-onde"] == founder
    facts = ids.facts_of([founder])[founder]
    kids = ids.canonical_of("siecle", ["c1", "c2"])
    assert facts["children"] == sorted(kids.values())
    assert {k: v["method"] for k, v in facts["matches"].items()} == {"g-siecle": "children", "g-onde": "children"}
    assert both.state.review.pending_count() == 0


def test_a_person_without_a_birth_date_meets_the_dated_one(tmp_path: Path) -> None:
    db = engine(tmp_path)
    aaf: list[Record] = [
        _person("t1", "Lefèvre", "Anne", Profile.TEACHER, birth_date=dt.date(1980, 4, 4)),
        # AAF files the documentaliste as a teacher (PersEducNat), SIECLE as staff.
        _person("d1", "Morel", "Paul", Profile.TEACHER, birth_date=dt.date(1975, 6, 6)),
    ]
    _plan(tmp_path, db, "aaf", aaf)
    siecle = _plan(
        tmp_path, db, "siecle", [_person("d9", "MOREL", "Paul", Profile.STAFF, birth_date=dt.date(1975, 6, 6))]
    )
    # ONDE carries no birth date for teachers: names and school agree, the date cannot: a reviewer decides.
    onde = _plan(tmp_path, db, "onde", [_person("e5", "Lefevre", "Anne", Profile.TEACHER)])
    ids = onde.state.identities
    aaf_ids = ids.canonical_of("aaf", ["t1", "d1"])
    assert ids.canonical_of("siecle", ["d9"])["d9"] == aaf_ids["d1"]
    why = ids.facts_of([aaf_ids["d1"]])[aaf_ids["d1"]]["matches"]["d9"]
    assert {"-profile", "+birth_date"} <= set(why["why"].split())
    assert [(e["person_key"], e["candidate_key"], e["reason"]) for e in onde.state.review.entries()] == [
        ("e5", aaf_ids["t1"], "review_band")
    ]
    assert siecle.state.review.pending_count() == 1  # the ONDE one only


def test_a_founder_seen_again_in_a_later_run_is_known(tmp_path: Path) -> None:
    store = MemoryConnector.named_store("src")
    fill(store, iter([(_person("p1", "Dupont", "Marie", birth_date=BORN), None)]))
    ctx = context(tmp_path, source="memory:src", db=engine(tmp_path))
    first = do_run(ctx)
    assert first.get("verify"), first
    second = open_run(ctx)
    assert second != first["run_id"]
    out = do_plan(ctx, second)
    rows = list(csv.DictReader(io.StringIO((Path(out["report"]["dir"]) / "plan-report.csv").read_text("utf-8-sig"))))
    person = next(r for r in rows if r["kind"] == "person")
    assert person["match"] == "known"
