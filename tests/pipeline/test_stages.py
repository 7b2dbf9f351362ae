"""The staged pipeline end to end on memory connectors: plan, apply, verify, thresholds, rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.errors import ThresholdExceededError
from ent_migrate.model import Document, Membership, Person, Profile, RecordKind
from ent_migrate.pipeline import do_apply, do_plan, do_run, do_verify, status
from ent_migrate.pipeline.runner import open_run
from ent_migrate.pipeline.window import parse_window
from ent_migrate.state import StateStore
from ent_migrate.state._sql import table
from tests.pipeline._helpers import UAI, context, district, engine, fill, snapshot


def _source_size() -> int:
    return sum(1 for _ in district())


def test_run_migrates_every_item_and_verifies_all_same(tmp_path: Path) -> None:
    n = fill(MemoryConnector.named_store("src"), district())
    ctx = context(tmp_path)
    out = do_run(ctx)
    assert out["plan"]["actions"]["create"] == n
    assert out["apply"]["done"] == n
    assert out["apply"]["failed"] == 0
    assert out["verify"]["marks"] == {"=": n, "+": 0, "-": 0, "*": 0, "!": 0}
    target = MemoryConnector.named_store("dst")
    # every person got a login, built from the names, ASCII, unique
    logins = [r.login for r in target.records[RecordKind.PERSON].values() if isinstance(r, Person)]
    assert all(logins)
    assert len(set(logins)) == len(logins)
    assert "anais.le-goff-nunez" in logins
    assert any(login is not None and login.startswith("eleve1.ndiaye") for login in logins)
    # blobs arrived byte-exact
    assert set(target.blobs) == set(MemoryConnector.named_store("src").blobs)


def test_plan_never_writes_to_the_target(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district())
    ctx = context(tmp_path, target_options={"fail_on_write": True})
    run_id = open_run(ctx)
    out = do_plan(ctx, run_id)
    assert out["actions"]["create"] == _source_size()
    assert MemoryConnector.named_store("dst").writes == 0
    # and apply against that target fails every item, proving the target really refuses writes
    applied = do_apply(ctx, run_id)
    assert applied["failed"] == _source_size()


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district())
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db))
    before = snapshot(MemoryConnector.named_store("dst"))
    writes = MemoryConnector.named_store("dst").writes
    out = do_run(context(tmp_path, db=db))
    assert out["plan"]["actions"]["create"] == 0
    assert out["plan"]["actions"]["update"] == 0
    assert out["plan"]["actions"]["skip"] == _source_size()
    assert out["apply"]["sent"] == 0
    assert MemoryConnector.named_store("dst").writes == writes
    assert snapshot(MemoryConnector.named_store("dst")) == before
    assert out["verify"]["marks"]["="] == _source_size()


def test_plan_reasons_update_move_disable_delete(tmp_path: Path) -> None:
    src = MemoryConnector.named_store("src")
    fill(src, district())
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db))
    # the source changes: a pupil changes class, a guardian leaves, a pupil changes school
    src.remove(RecordKind.MEMBERSHIP, Membership(person_id="p0", uai=UAI, group_code="CM2").key)
    src.put(Membership(person_id="p0", uai=UAI, group_code="CM1"))
    src.remove(RecordKind.PERSON, "g1")
    moved = src.records[RecordKind.PERSON]["p2"]
    assert isinstance(moved, Person)
    src.put(dataclasses.replace(moved, structures=("0809999J",)))
    renamed = src.records[RecordKind.PERSON]["p3"]
    assert isinstance(renamed, Person)
    src.put(dataclasses.replace(renamed, first_name="Zoé"))
    ctx = context(tmp_path, db=db)
    run_id = open_run(ctx)
    actions = do_plan(ctx, run_id)["actions"]
    assert actions["create"] == 1  # the new membership
    assert actions["delete"] == 1  # the old membership
    assert actions["disable"] == 1  # the guardian gone from the source
    assert actions["move"] == 1
    assert actions["update"] == 1
    items = table("items")
    with db.connect() as conn:
        reasons = dict(conn.execute(select(items.c.key, items.c.reason).where(items.c.run_id == run_id)).all())
    assert reasons["p3"] == "fields differ: first_name"
    assert reasons["p2"].startswith("changes school")
    assert "Zoé" not in str(reasons)  # reasons name fields, never values
    applied = do_apply(ctx, run_id)
    assert applied["failed"] == 0
    assert do_verify(ctx, run_id)["marks"]["+"] == 0
    dst = MemoryConnector.named_store("dst")
    assert "g1" in dst.disabled
    assert Membership(person_id="p0", uai=UAI, group_code="CM2").key not in dst.records[RecordKind.MEMBERSHIP]


def test_deletion_threshold_stops_plan_and_apply(tmp_path: Path) -> None:
    src = MemoryConnector.named_store("src")
    fill(src, district())
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db))
    for i in range(10):
        src.remove(RecordKind.PERSON, f"g{i}")
    ctx = context(tmp_path, db=db, safety={"max_deletions": 5, "max_deletions_pct": -1})
    run_id = open_run(ctx)
    with pytest.raises(ThresholdExceededError, match=r"max_deletions = 5") as info:
        do_plan(ctx, run_id)
    assert "--max-deletions 10" in str(info.value)
    # apply checks again, even when the plan was made under a looser config
    loose = context(tmp_path, db=db, safety={"max_deletions": 100, "max_deletions_pct": -1})
    do_plan(loose, run_id)
    with pytest.raises(ThresholdExceededError):
        do_apply(ctx, run_id)
    assert do_apply(loose, run_id)["done"] == 10


def test_percentage_thresholds(tmp_path: Path) -> None:
    src = MemoryConnector.named_store("src")
    fill(src, district())
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db))
    for _key, record in list(src.records[RecordKind.PERSON].items()):
        assert isinstance(record, Person)
        src.put(dataclasses.replace(record, civility="M."))
    ctx = context(tmp_path, db=db, safety={"max_updates_pct": 10})
    with pytest.raises(ThresholdExceededError, match="max_updates_pct"):
        do_plan(ctx, open_run(ctx))


def test_target_rules_are_applied_in_plan(tmp_path: Path) -> None:
    src = MemoryConnector.named_store("src")
    fill(src, district(pupils=2))
    src.put(
        Person(
            id="long",
            profile=Profile.STAFF,
            last_name="Dupont-de-la-Grande-Maison",
            first_name="Marie-Christine-Bénédicte",
            structures=(UAI,),
        )
    )
    ctx = context(tmp_path, target_options={"login_max_length": 12, "required": {"person": ["birth_date"]}})
    out = do_run(ctx)
    # logins are built to fit the rule, so only the missing birth dates make items invalid
    assert out["plan"]["actions"]["invalid"] == 4  # teacher, two guardians, the staff member
    assert out["apply"]["failed"] == 0
    people = MemoryConnector.named_store("dst").records[RecordKind.PERSON]
    assert all(len(p.login or "") <= 12 for p in people.values() if isinstance(p, Person))
    assert "long" not in people


def test_terminal_errors_fail_only_their_item_and_are_marked(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district())
    ctx = context(tmp_path, target_options={"terminal_error": 0.2, "transient_error": 0.3, "seed": 7})
    out = do_run(ctx)
    failed = out["apply"]["failed"]
    assert 0 < failed < _source_size()
    assert out["apply"]["retries"] > 0
    assert out["verify"]["marks"]["!"] == failed
    assert out["verify"]["marks"]["="] == _source_size() - failed
    items = table("items")
    with ctx.engine.connect() as conn:
        errors = conn.execute(select(items.c.error).where(items.c.mark == "!")).scalars().all()
    assert all("injected terminal error" in e for e in errors)


def test_max_ops_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district())
    db = engine(tmp_path)
    ctx = context(tmp_path, db=db)
    first = do_run(ctx, max_ops=10)
    assert first["apply"]["sent"] == 10
    assert "verify" not in first
    assert first["apply"]["pending"] == _source_size() - 10
    assert MemoryConnector.named_store("dst").writes == 10
    second = do_run(context(tmp_path, db=db))
    assert second["run_id"] == first["run_id"]  # the same run, resumed
    assert second["apply"]["sent"] == _source_size() - 10
    assert second["verify"]["marks"]["="] == _source_size()
    assert status(StateStore(db), first["run_id"])["status"] == "done"


def test_verify_marks_each_kind_of_difference(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), district())
    db = engine(tmp_path)
    ctx = context(tmp_path, db=db)
    run_id = do_run(ctx)["run_id"]
    dst = MemoryConnector.named_store("dst")
    dst.remove(RecordKind.PERSON, "p1")  # +
    dst.put(Person(id="intruder", profile=Profile.STAFF, last_name="X", first_name="Y"))  # -
    tampered = dst.records[RecordKind.PERSON]["p2"]
    assert isinstance(tampered, Person)
    dst.put(dataclasses.replace(tampered, last_name="Autre"))  # *
    document = next(iter(dst.records[RecordKind.DOCUMENT].values()))
    assert isinstance(document, Document)
    dst.blobs[document.sha256] = b"not the same bytes"  # * (blob)
    marks = do_verify(ctx, run_id)["marks"]
    assert marks == {"=": _source_size() - 3, "+": 1, "-": 1, "*": 2, "!": 0}
    items = table("items")
    with db.connect() as conn:
        rows = dict(conn.execute(select(items.c.key, items.c.mark_reason).where(items.c.mark == "*")).all())
        total = conn.execute(select(func.count()).where(items.c.run_id == run_id)).scalar()
    assert rows["p2"] == "fingerprint differs"
    assert "blob sha256 differs" in rows.values()
    assert total == _source_size() + 1


def test_homonyms_get_unique_logins_kept_across_runs(tmp_path: Path) -> None:
    src = MemoryConnector.named_store("src")
    for i in range(150):  # more homonyms than one probe round of suffixes
        src.put(Person(id=f"h{i}", profile=Profile.STUDENT, last_name="Martin", first_name="Léa", structures=(UAI,)))
    db = engine(tmp_path)
    do_run(context(tmp_path, db=db))
    people = MemoryConnector.named_store("dst").records[RecordKind.PERSON]
    logins = {key: p.login for key, p in people.items() if isinstance(p, Person)}
    assert len(set(logins.values())) == 150
    assert "lea.martin" in logins.values()
    assert "lea.martin150" in logins.values()
    # a second source read in another order keeps each person's login (the old→new map is kept forever)
    MemoryConnector.reset()
    src = MemoryConnector.named_store("src")
    for i in reversed(range(150)):
        src.put(Person(id=f"h{i}", profile=Profile.STUDENT, last_name="Martin", first_name="Léa", structures=(UAI,)))
    out = do_run(context(tmp_path, db=db))
    again = MemoryConnector.named_store("dst").records[RecordKind.PERSON]
    assert {key: p.login for key, p in again.items() if isinstance(p, Person)} == logins
    assert out["plan"]["actions"]["create"] == 150  # the target was a fresh memory store


def test_apply_stops_cleanly_outside_its_time_window_and_resumes(tmp_path: Path) -> None:
    import datetime as dt

    fill(MemoryConnector.named_store("src"), district())
    db = engine(tmp_path)
    now = dt.datetime.now()
    closed = f"{(now + dt.timedelta(hours=2)):%H:%M}-{(now + dt.timedelta(hours=3)):%H:%M}"
    shut = context(tmp_path, db=db)
    shut.settings = dataclasses.replace(shut.settings, window=parse_window(closed))
    first = do_run(shut)
    assert first["apply"]["stopped_early"]
    assert first["apply"]["sent"] == 0
    assert 3600 <= first["apply"]["outside_window"] <= 7300
    assert MemoryConnector.named_store("dst").writes == 0
    open_now = f"{(now - dt.timedelta(hours=1)):%H:%M}-{(now + dt.timedelta(hours=1)):%H:%M}"
    inside = context(tmp_path, db=db)
    inside.settings = dataclasses.replace(inside.settings, window=parse_window(open_now))
    second = do_run(inside)
    assert second["run_id"] == first["run_id"]
    assert second["verify"]["marks"]["="] == _source_size()
