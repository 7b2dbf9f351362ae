"""One account per identity: two records of one person in a source become one account, with
everything that referred to either; nothing of the second record is lost."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from ent_migrate.connectors.memory import MemoryConnector, MemoryStore
from ent_migrate.model import Document, Group, Guardianship, Membership, Person, Profile, Record, RecordKind, Structure
from ent_migrate.pipeline import PipelineContext, do_apply, do_plan, do_run, do_verify
from ent_migrate.pipeline.map import map_records
from ent_migrate.pipeline.map_accounts import merged_person
from ent_migrate.pipeline.plan import NOT_EXPECTED
from ent_migrate.pipeline.runner import do_extract, open_run
from ent_migrate.state._sql import table
from tests.pipeline._helpers import context, engine, fill
from tests.pipeline.test_reconcile_guardians import A, B
from tests.pipeline.test_reconcile_guardians import _records as guardian_records

R = TypeVar("R", bound=Record)


def _doc(owner: str, path: str, body: bytes) -> tuple[Record, bytes]:
    return Document(owner_id=owner, path=path, sha256=hashlib.sha256(body).hexdigest(), size=len(body)), body


def _pupil_twice() -> list[tuple[Record, bytes | None]]:
    """A pupil listed twice (a change of school; the second record has no INE), each record with its
    own class, a guardian, and documents: one with the same name and other bytes, one the same."""

    def pupil(pid: str, ine: str | None, uai: str) -> Person:
        return Person(
            id=pid,
            profile=Profile.STUDENT,
            last_name="Martin",
            first_name="Léa",
            birth_date=dt.date(2014, 5, 6),
            ine=ine,
            structures=(uai,),
        )

    return [
        (Structure(uai=A, name="ECOLE A"), None),
        (Structure(uai=B, name="ECOLE B"), None),
        (Group(uai=A, code="CM1"), None),
        (Group(uai=B, code="CM1"), None),
        (pupil("p1", "0000000051A", A), None),
        (pupil("p1-bis", "0000000051A", B), None),
        (Person(id="g1", profile=Profile.GUARDIAN, last_name="Martin", first_name="Paul", structures=(A,)), None),
        (Membership(person_id="p1", uai=A, group_code="CM1"), None),
        (Membership(person_id="p1-bis", uai=B, group_code="CM1"), None),
        (Guardianship(guardian_id="g1", student_id="p1", legal_level=1), None),
        (Guardianship(guardian_id="g1", student_id="p1-bis", legal_level=1), None),
        _doc("p1", "Devoirs/maths.txt", b"version de l'ecole A"),
        _doc("p1-bis", "Devoirs/maths.txt", b"version de l'ecole B"),
        _doc("p1", "Poesie.txt", b"le meme poeme"),
        _doc("p1-bis", "Poesie.txt", b"le meme poeme"),
        _doc("p1-bis", "Dessin.txt", b"seulement ici"),
    ]


def _of(store: MemoryStore, kind: RecordKind, cls: type[R]) -> list[R]:
    return [r for r in store.records[kind].values() if isinstance(r, cls)]


def _rows(folder: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((folder / "plan-report.csv").read_text("utf-8-sig"))))


def test_a_guardian_in_two_schools_gets_one_account_with_both_links(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), iter((r, None) for r in guardian_records()))
    ctx = context(tmp_path)
    out = do_run(ctx)
    target = MemoryConnector.named_store("dst")
    people = target.records[RecordKind.PERSON]
    # One account for the three records of Karim Petit (the académie's founds it); the homonym keeps his.
    assert sorted(people) == ["c1", "c2", "c3", "g-ab", "g-other"]
    account = people["g-ab"]
    assert isinstance(account, Person)
    assert set(account.structures) == {A, B}
    assert set(account.source_ids) == {"g-a", "g-b"}
    links = sorted((g.guardian_id, g.student_id) for g in _of(target, RecordKind.GUARDIANSHIP, Guardianship))
    assert links == [("g-ab", "c1"), ("g-ab", "c2"), ("g-other", "c3")]
    assert out["verify"]["verdict"] == "complete"
    # The plan says why the two school records have no account, and which identity they belong to.
    rows = {r["id"]: r for r in _rows(Path(out["plan"]["report"]["dir"]))}
    for folded in ("g-a", "g-b"):
        row = rows[ctx.pseudonymize(folded)]
        assert (row["status"], row["reason"]) == ("skip", NOT_EXPECTED["identity"])
        assert row["identity"] == rows[ctx.pseudonymize("g-ab")]["identity"]
    # The logins map has no login for a folded record (one letter per account).
    assert {old for _, old, _, new in ctx.state.identities.id_map_rows() if new} == {
        "c1",
        "c2",
        "c3",
        "g-ab",
        "g-other",
    }


def test_a_pupil_twice_keeps_all_her_work_on_one_account(tmp_path: Path) -> None:
    source = MemoryConnector.named_store("src")
    fill(source, iter(_pupil_twice()))
    db = engine(tmp_path)
    out = do_run(context(tmp_path, db=db))
    assert out["verify"]["verdict"] == "complete", out["verify"]
    target = MemoryConnector.named_store("dst")
    assert sorted(target.records[RecordKind.PERSON]) == ["g1", "p1"]
    docs = {d.path: d.sha256 for d in target.records[RecordKind.DOCUMENT].values() if isinstance(d, Document)}
    assert {d.owner_id for d in target.records[RecordKind.DOCUMENT].values() if isinstance(d, Document)} == {"p1"}
    # Same name, other bytes: kept under a new name; the same bytes once; nothing lost.
    assert sorted(docs) == ["Dessin.txt", "Devoirs/maths (2).txt", "Devoirs/maths.txt", "Poesie.txt"]
    assert set(docs.values()) == {hashlib.sha256(b).hexdigest() for _, b in _pupil_twice() if b is not None}
    assert set(target.blobs) == set(source.blobs)
    members = sorted((m.person_id, m.uai) for m in _of(target, RecordKind.MEMBERSHIP, Membership))
    assert members == [("p1", A), ("p1", B)]
    assert [(g.guardian_id, g.student_id) for g in _of(target, RecordKind.GUARDIANSHIP, Guardianship)] == [("g1", "p1")]
    # A second run changes nothing: the folding is idempotent and verify stays complete.
    writes = target.writes
    again = do_run(context(tmp_path, db=db))
    assert again["plan"]["actions"]["create"] == again["plan"]["actions"]["update"] == 0
    assert again["plan"]["actions"]["delete"] == 0
    assert target.writes == writes
    assert again["verify"]["verdict"] == "complete"


def test_a_duplicate_account_the_target_already_holds_is_removed(tmp_path: Path) -> None:
    """A target filled before folding (two accounts for one pupil): the second one is disabled (the
    mapping's on_missing, under the thresholds), and its documents come back on the account."""
    fill(MemoryConnector.named_store("src"), iter(_pupil_twice()))
    target = MemoryConnector.named_store("dst")
    fill(target, iter(_pupil_twice()))  # as an unfolded migration left it
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    planned = do_plan(ctx, run_id)
    rows = {(r["kind"], r["id"]): r for r in _rows(Path(planned["report"]["dir"]))}
    assert rows[("person", ctx.pseudonymize("p1-bis"))]["status"] == "disable"
    assert rows[("person", ctx.pseudonymize("p1"))]["status"] == "move"  # takes the second school
    do_apply(ctx, run_id)
    assert do_verify(ctx, run_id)["verdict"] == "complete"
    assert sorted(target.disabled) == ["p1-bis"]
    assert "Devoirs/maths (2).txt" in {
        d.path for d in target.records[RecordKind.DOCUMENT].values() if isinstance(d, Document)
    }


def test_the_account_takes_the_other_records_structures_and_ids() -> None:
    first = {"id": "a", "structures": ["X"], "emails": ["a@x"], "source_ids": ["s1"]}
    merged = merged_person(first, [{"id": "b", "structures": ["Y", "X"], "emails": []}, {"id": "c"}])
    assert merged["structures"] == ["X", "Y"]
    assert merged["emails"] == ["a@x"]
    assert merged["source_ids"] == ["s1", "b", "c"]
    assert first["structures"] == ["X"]  # the source payload is left as it was


def _expected_state(ctx: PipelineContext, run_id: str) -> list[tuple[str, str, str | None, str | None]]:
    items = table("items")
    with ctx.state.engine.connect() as conn:
        return sorted(
            conn.execute(
                select(items.c.kind, items.c.key, items.c.target_fingerprint, items.c.not_expected).where(
                    items.c.run_id == run_id
                )
            ).all()
        )


def test_map_run_again_folds_the_same(tmp_path: Path) -> None:
    """What a resumed map does (a kill inside map re-runs it whole): the same items, expected alike."""
    fill(MemoryConnector.named_store("src"), iter(_pupil_twice()))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_extract(ctx, run_id)
    first = _expected_state(ctx, run_id)
    assert ("person", "p1-bis", None, "identity") in first
    map_records(ctx, run_id)
    map_records(ctx, run_id)
    assert _expected_state(ctx, run_id) == first
