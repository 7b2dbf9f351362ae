"""Several sources on one state store: an id is a source's own, a jointure is shared, facts grow,
and people with and without a birth date still meet."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Guardianship, Person, Profile, Record, RecordKind
from ent_migrate.outcomes import Stage
from ent_migrate.pipeline import PipelineContext, do_plan, do_run
from ent_migrate.pipeline.plan import NOT_EXPECTED
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


def _target_people() -> dict[str, Any]:
    return {k: r.to_dict() for k, r in MemoryConnector.named_store("dst").records[RecordKind.PERSON].items()}


def _run(tmp_path: Path, db: Engine, name: str, records: Sequence[Record], **options: Any) -> dict[str, Any]:
    """Plan, apply and verify one source named *name* into the shared memory target."""
    fill(MemoryConnector.named_store(name), iter((r, None) for r in records))
    out = do_run(context(tmp_path / name, source=f"memory:{name}", source_name=name, source_options=options, db=db))
    assert out["verify"]["verdict"] == "complete", out["verify"]
    return out


def _action(ctx: PipelineContext, run_id: str, kind: RecordKind, key: str) -> tuple[str | None, str | None]:
    rows = (r for batch in ctx.state.items.scan_for_report(run_id) for r in batch)
    return next((r.action, r.reason) for r in rows if r.kind == kind and r.key == key)


def test_a_second_source_lands_on_the_accounts_an_earlier_run_made(tmp_path: Path) -> None:
    db = engine(tmp_path)
    _run(tmp_path, db, "aaf", [_person("a-p1", "Dupont", "Marie", birth_date=BORN, ine="1234567890A")])
    login = _target_people()["a-p1"]["login"]
    # SIECLE knows the pupil under its own id, and brings her guardian and their link.
    siecle: list[Record] = [
        _person("s-p1", "DUPONT", "Marie", birth_date=BORN, ine="1234567890A"),
        _person("s-g1", "Dupont", "Luc", Profile.GUARDIAN),
        Guardianship(guardian_id="s-g1", student_id="s-p1", legal_level=1, kinship="10"),
    ]
    out = _run(tmp_path, db, "siecle", siecle, partial=True)
    people = _target_people()
    assert sorted(people) == ["a-p1", "s-g1"]  # no second account for the pupil
    assert people["a-p1"]["login"] == login  # the account keeps the login the first run gave
    assert "s-p1" in people["a-p1"]["source_ids"]
    links = MemoryConnector.named_store("dst").records[RecordKind.GUARDIANSHIP]
    assert [(r.to_dict()["guardian_id"], r.to_dict()["student_id"]) for r in links.values()] == [("s-g1", "a-p1")]
    ctx = context(tmp_path / "siecle", source="memory:siecle", source_name="siecle", db=db)
    assert _action(ctx, out["run_id"], RecordKind.PERSON, "s-p1") == ("skip", NOT_EXPECTED["identity"])
    assert out["plan"]["actions"].get("create", 0) == 2  # the guardian and the link only
    assert out["plan"]["actions"].get("update", 0) == 1  # the account gains the SIECLE id
    # The plan report names the identity on the account's row too, not only on the folded record's.
    report = Path(out["plan"]["report"]["dir"]) / "plan-report.csv"
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(report.read_text("utf-8-sig")))}
    account, folded = rows[ctx.pseudonymize("a-p1")], rows[ctx.pseudonymize("s-p1")]
    assert (account["status"], folded["status"]) == ("update", "skip")
    assert account["identity"]
    assert account["identity"] == folded["identity"]
    assert (account["match"], account["why"]) == (folded["match"], folded["why"])
    # A second plan of the run, after apply, finds everything in place: no second account after all.
    again = do_plan(ctx, out["run_id"])
    assert (again["actions"].get("create", 0), again["actions"].get("update", 0)) == (0, 0)
    assert _action(ctx, out["run_id"], RecordKind.PERSON, "a-p1") == ("skip", "already up to date")
    assert sorted(_target_people()) == ["a-p1", "s-g1"]


def test_a_target_account_naming_a_source_id_is_not_given_that_identity(tmp_path: Path) -> None:
    """An account only the target holds claims a source person's id in its source_ids (a vendor's
    pre-filled data, or a forged record): the plan report does not give it that person's identity."""
    MemoryConnector.named_store("dst").put(
        _person("v-9", "Zed", "Zoé", birth_date=dt.date(2010, 1, 1), source_ids=("s-p1",), login="zz")
    )
    ctx = _plan(tmp_path, engine(tmp_path), "siecle", [_person("s-p1", "Dupont", "Marie", birth_date=BORN)])
    report = ctx.report_dir / open_run(ctx) / "plan-1" / "plan-report.csv"  # the planned run, unfinished
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(report.read_text("utf-8-sig")))}
    assert rows[ctx.pseudonymize("s-p1")]["identity"]
    assert rows[ctx.pseudonymize("v-9")]["identity"] == ""


def test_an_id_two_sources_give_two_people_is_two_accounts(tmp_path: Path) -> None:
    db = engine(tmp_path)
    _run(tmp_path, db, "aaf", [_person("x1", "Dupont", "Marie", birth_date=BORN, ine="1234567890A")])
    siecle: list[Record] = [
        _person("s-p1", "Dupont", "Marie", birth_date=BORN, ine="1234567890A"),
        _person("x1", "Martin", "Hugo", birth_date=dt.date(2013, 9, 9)),  # another pupil under the AAF id
    ]
    out = _run(tmp_path, db, "siecle", siecle, partial=True)
    people = _target_people()
    # Hugo's record never lands on Marie's account: his account takes his identity's own id.
    assert sorted(people) == ["siecle:x1", "x1"]
    assert (people["x1"]["first_name"], people["siecle:x1"]["first_name"]) == ("Marie", "Hugo")
    assert people["siecle:x1"]["source_ids"] == ["x1"]
    assert out["plan"]["actions"].get("create") == 1
    # The next run of the same files lands on the same two accounts.
    again = _run(tmp_path, db, "siecle", siecle, partial=True)
    assert (again["plan"]["actions"].get("create", 0), sorted(_target_people())) == (0, ["siecle:x1", "x1"])


def test_a_pupil_under_a_new_id_next_year_keeps_last_years_account(tmp_path: Path) -> None:
    db = engine(tmp_path)
    store = MemoryConnector.named_store("src")
    fill(store, iter([(_person("p-old", "Dupont", "Marie", birth_date=BORN, ine="1234567890A"), None)]))
    ctx = context(tmp_path, source="memory:src", db=db)
    assert do_run(ctx)["verify"]["verdict"] == "complete"
    login = _target_people()["p-old"]["login"]
    store.remove(RecordKind.PERSON, "p-old")
    store.put(_person("p-new", "Dupont", "Marie", birth_date=BORN, ine="1234567890A"))
    out = do_run(ctx)
    assert out["verify"]["verdict"] == "complete"
    people = _target_people()
    assert sorted(people) == ["p-old"]  # not deleted and created again under the new id
    assert people["p-old"]["login"] == login
    assert people["p-old"]["source_ids"] == ["p-new"]


def test_the_mappings_thresholds_decide_what_joins_and_what_waits(tmp_path: Path) -> None:
    """The same pair, a unique match on names and birth date, joins under the default threshold and
    waits for a reviewer under a stricter ``[matching] accept``."""
    outcomes = []
    for accept in (None, 1.5):
        here = tmp_path / f"accept-{accept}"
        db = engine(here)
        mapping: dict[str, Any] = {}
        if accept is not None:
            (here / "m.toml").write_text(f"[matching]\naccept = {accept}\nreview = 0.5\n", encoding="utf-8")
            mapping = {"file": str(here / "m.toml")}
        for name, record in (
            ("aaf", _person("a1", "Dupont", "Marie", birth_date=BORN)),
            ("siecle", _person("s1", "DUPONT", "Marie", birth_date=BORN)),
        ):
            fill(MemoryConnector.named_store(f"{name}-{accept}"), iter([(record, None)]))
            ctx = context(here / name, source=f"memory:{name}-{accept}", source_name=name, db=db, mapping=mapping)
            do_plan(ctx, open_run(ctx))
        ids = ctx.state.identities
        joined = ids.canonical_of("siecle", ["s1"])["s1"] == ids.canonical_of("aaf", ["a1"])["a1"]
        outcomes.append((joined, ctx.state.review.pending_count()))
    assert outcomes == [(True, 0), (False, 1)]


def test_people_the_target_already_holds_keep_their_accounts(tmp_path: Path) -> None:
    """An incremental switchover: the new ENT already has accounts (its own ids and logins) for some
    of the source's people. They are matched, not duplicated; the rest is as for an empty target."""
    dst = MemoryConnector.named_store("dst")
    dst.put(_person("v-100", "Dupont", "Marie", birth_date=BORN, ine="1234567890A", login="mdupont"))
    dst.put(_person("v-200", "Dupont", "Luc", Profile.GUARDIAN, login="ldupont"))
    dst.put(Guardianship(guardian_id="v-200", student_id="v-100", legal_level=1, kinship="10"))
    dst.put(_person("v-300", "Roy", "Léa", Profile.TEACHER, login="lea.roy"))
    dst.put(_person("v-400", "Martin", "Hugo", birth_date=dt.date(2012, 5, 5), login="hugo.martin"))
    source: list[Record] = [
        _person("s-p1", "DUPONT", "Marie", birth_date=BORN, ine="1234567890A"),  # the INE
        _person("s-g1", "Dupont", "Luc", Profile.GUARDIAN),  # through the child they share
        Guardianship(guardian_id="s-g1", student_id="s-p1", legal_level=1, kinship="10"),
        _person("s-t9", "ROY", "Lea", Profile.TEACHER),  # names only, no date on either side: a reviewer decides
        _person("s-p2", "Martin", "Hugo", birth_date=BORN),  # a namesake born another day: someone else
    ]
    out = _run(tmp_path, engine(tmp_path), "siecle", source)
    people = _target_people()
    assert sorted(people) == ["s-p2", "s-t9", "v-100", "v-200", "v-300", "v-400"]
    assert (people["v-100"]["login"], people["v-200"]["login"]) == ("mdupont", "ldupont")
    assert people["s-p2"]["login"] == "hugo.martin2"  # the target's own logins are never given again
    # The accounts no source person claims: gone from the source (the mapping's on_missing = disable).
    assert MemoryConnector.named_store("dst").disabled == {"v-300", "v-400"}
    links = MemoryConnector.named_store("dst").records[RecordKind.GUARDIANSHIP]
    assert sorted(links) == [Guardianship(guardian_id="v-200", student_id="v-100", legal_level=1, kinship="10").key]
    ctx = context(tmp_path / "siecle", source="memory:siecle", source_name="siecle", db=engine(tmp_path))
    ids = ctx.state.identities
    queued = [(e["source"], e["person_key"], e["candidate_key"]) for e in ctx.state.review.entries()]
    # The target's account is the one that waits: which source person it is, a reviewer says.
    assert queued == [("@b", "v-300", ids.canonical_of("siecle", ["s-t9"])["s-t9"])]
    assert ctx.state.runs.stage_counts(out["run_id"], Stage.RECONCILE)["target_accounts"] == 4
    summary = out["plan"]["identities"]
    assert (summary["people"], summary["on_existing_accounts"], summary["review_queue"]) == (4, 2, 1)
    # A second run finds everything where it is.
    again = _run(tmp_path, engine(tmp_path), "siecle", source)
    assert (again["plan"]["actions"].get("create", 0), again["plan"]["actions"].get("update", 0)) == (0, 0)
    # The reviewer says the vendor's account is hers: she has two, and the one the first run made (in
    # the id map, with her login) stays; the other is a duplicate, disabled (the mapping's on_missing).
    ctx.state.review.merge("@b", "v-300", ids.canonical_of("siecle", ["s-t9"])["s-t9"])
    _run(tmp_path, engine(tmp_path), "siecle", source)
    assert MemoryConnector.named_store("dst").disabled == {"v-300", "v-400"}
    assert _target_people()["s-t9"]["login"] == "lea.roy2"


_NAMES = st.sampled_from(["Dupont", "Martin", "Núñez", "Le Goff", "N'Diaye", "Roy"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_NAMES, _NAMES, st.booleans()), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_each_person_has_one_account_whatever_the_target_held(people: list[tuple[str, str, bool]], rnd: Any) -> None:
    """Any mix of pupils the target already holds (under its own ids and logins) and pupils it does
    not, in any source order: one active account per pupil, the held ones kept with their login."""
    MemoryConnector.reset()
    dst = MemoryConnector.named_store("dst")
    records: list[Record] = []
    for i, (last, first, held) in enumerate(people):
        fields: dict[str, Any] = {"birth_date": BORN, "ine": f"{i:010d}A"}
        if held:
            dst.put(_person(f"v-{i}", last, first, login=f"vendor{i}", **fields))
        records.append(_person(f"s-{i}", last.upper(), first, **fields))
    rnd.shuffle(records)
    with tempfile.TemporaryDirectory() as tmp:
        _run(Path(tmp), engine(Path(tmp)), "siecle", records)
    accounts = [r.to_dict() for r in dst.records[RecordKind.PERSON].values() if r.key not in dst.disabled]
    assert sorted(a["ine"] for a in accounts) == [f"{i:010d}A" for i in range(len(people))]
    for i, (_, _, held) in enumerate(people):
        account = next(a for a in accounts if a["ine"] == f"{i:010d}A")
        assert (account["id"], account["login"] == f"vendor{i}") == ((f"v-{i}", True) if held else (f"s-{i}", False))
