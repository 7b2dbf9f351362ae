"""Guardians are matched through their children: a shared child plus the folded names make one
identity (with both links); a homonym with other children is not merged."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Guardianship, Person, Profile, Record, RecordKind, Structure
from ent_migrate.pipeline import do_plan
from ent_migrate.pipeline import reconcile as reconcile_stage
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import context, fill

A, B = "0690001A", "0690002B"


def _records() -> list[Record]:
    def pupil(pid: str, first: str, ine: str | None, uai: str) -> Person:
        return Person(
            id=pid,
            profile=Profile.STUDENT,
            last_name="Petit",
            first_name=first,
            birth_date=dt.date(2014, 3, 3),
            ine=ine,
            structures=(uai,),
        )

    def guardian(pid: str, last: str, uai: tuple[str, ...]) -> Person:
        return Person(id=pid, profile=Profile.GUARDIAN, last_name=last, first_name="Karim", structures=uai)

    return [
        Structure(uai=A, name="COLLEGE A"),
        Structure(uai=B, name="ECOLE B"),
        pupil("c1", "Lou", "0000000041A", A),
        pupil("c2", "Sam", None, B),  # no INE: the child's identity still links the guardians
        pupil("c3", "Zoé", "0000000043A", A),
        # The guardian seen by school A, then by the académie with both children, then by school B.
        guardian("g-a", "Petit", (A,)),
        guardian("g-ab", "PETIT", (A, B)),
        guardian("g-b", "Petít", (B,)),
        # A homonym whose child is someone else's: never merged on names alone.
        guardian("g-other", "Petit", (A,)),
        Guardianship(guardian_id="g-a", student_id="c1", legal_level=1),
        Guardianship(guardian_id="g-ab", student_id="c1", legal_level=1),
        Guardianship(guardian_id="g-ab", student_id="c2", legal_level=1),
        Guardianship(guardian_id="g-b", student_id="c2", legal_level=1),
        Guardianship(guardian_id="g-other", student_id="c3", legal_level=1),
    ]


def test_a_guardian_in_two_schools_is_one_identity_with_both_links(tmp_path: Path) -> None:
    fill(MemoryConnector.named_store("src"), iter((r, None) for r in _records()))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    folder = Path(do_plan(ctx, run_id)["report"]["dir"])
    ids = ctx.state.identities
    canon = ids.canonical_of(ctx.source_name, ["g-a", "g-ab", "g-b", "g-other", "c1", "c2", "c3"])
    assert canon["g-a"] == canon["g-ab"] == canon["g-b"]  # no missed merge
    assert canon["g-other"] != canon["g-a"]  # no false merge
    facts = ids.facts_of([canon["g-a"]])[canon["g-a"]]
    assert facts["children"] == sorted({canon["c1"], canon["c2"]})  # both links, on one identity
    # The homonym went to review (same names, no child in common), not to a merge.
    queued = [(e["person_key"], e["candidate_key"], e["reason"]) for e in ctx.state.review.entries()]
    assert queued == [("g-other", canon["g-a"], "review_band")]
    # Every guardianship is still planned: the links of both records stay.
    rows = list(csv.DictReader(io.StringIO((folder / "plan-report.csv").read_text("utf-8-sig"))))
    assert sum(r["kind"] == RecordKind.GUARDIANSHIP for r in rows) == 5
    by_id = {r["id"]: r for r in rows}
    # The record that knows both children founds the identity; each school's record joins it.
    assert by_id[ctx.pseudonymize("g-ab")]["match"] == "new"
    for school_record in ("g-a", "g-b"):
        joined = by_id[ctx.pseudonymize(school_record)]
        assert joined["match"] == "children"
        assert {"+children", "+last_name", "+first_name"} <= set(joined["why"].split())


def test_without_children_guardians_are_only_reviewed(tmp_path: Path) -> None:
    records = [r for r in _records() if r.kind != RecordKind.GUARDIANSHIP]
    fill(MemoryConnector.named_store("src"), iter((r, None) for r in records))
    ctx = context(tmp_path)
    do_plan(ctx, open_run(ctx))
    canon = ctx.state.identities.canonical_of(ctx.source_name, ["g-a", "g-ab", "g-b", "g-other"])
    assert len(set(canon.values())) == 4  # names alone never merge guardians
    assert ctx.state.review.pending_count() == 6  # every pair of the four asked, none decided


@pytest.mark.parametrize("wait", [3, 0], ids=["held", "second-pass"])
def test_a_guardian_whose_child_is_not_reconciled_yet_still_gets_an_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: int
) -> None:
    # g-late's only child is absent from the source: the guardian is held (or, with no batch to wait,
    # left to the second pass) and still gets an identity of their own; the others are as before.
    monkeypatch.setattr(reconcile_stage, "_WAIT", wait)
    records = [*_records(), Person(id="g-late", profile=Profile.GUARDIAN, last_name="Roux", first_name="Iris")]
    records.append(Guardianship(guardian_id="g-late", student_id="c-absent", legal_level=1))
    fill(MemoryConnector.named_store("src"), iter((r, None) for r in records))
    ctx = context(tmp_path)
    do_plan(ctx, open_run(ctx))
    canon = ctx.state.identities.canonical_of(ctx.source_name, ["g-late", "g-a", "g-ab", "g-b"])
    assert canon["g-late"] == "g-late"
    assert canon["g-a"] == canon["g-ab"] == canon["g-b"]
