"""reconcile in the pipeline: scored matches join, ambiguous ones are queued, decisions are replayed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Person, Profile
from ent_migrate.pipeline import do_plan, status
from ent_migrate.pipeline.reconcile import reconcile
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import UAI, context, district, fill

BORN = dt.date(2014, 1, 1)


def _pupil(pid: str, last: str, first: str, born: dt.date | None, ine: str | None) -> Person:
    return Person(
        id=pid, profile=Profile.STUDENT, last_name=last, first_name=first, birth_date=born, ine=ine, structures=(UAI,)
    )


def _extra() -> list[tuple[Person, None]]:
    return [
        # p0 again, without an INE and spelt without accents: one person twice in a source
        (_pupil("dup-p0", "N'DIAYE", "Eleve0", BORN, None), None),
        # a twin of p0: same last name and birth date, another first name and INE
        (_pupil("twin-p0", "N'Diaye", "Awa", BORN, "9999999999Z"), None),
        # p1's INE on someone else: a conflict, never merged
        (_pupil("clash-p1", "Martin", "Hugo", dt.date(2013, 5, 5), "0000000001A"), None),
    ]


def test_scored_matching_joins_queues_and_replays_decisions(tmp_path: Path) -> None:
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=4))
    fill(store, iter(_extra()))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    ids = ctx.state.identities
    canon = ids.canonical_of(ctx.source_name, ["p0", "dup-p0", "twin-p0", "clash-p1", "p1"])
    assert canon["dup-p0"] == canon["p0"]  # no missed merge
    assert canon["twin-p0"] != canon["p0"]  # no false merge
    assert canon["clash-p1"] != canon["p1"]  # an INE conflict is not merged...
    queue = ctx.state.review.entries()
    # whichever of the two came first is the candidate of the other
    assert [({e["person_key"], e["candidate_key"]}, e["reason"]) for e in queue] == [
        ({"clash-p1", "p1"}, "ine_conflict")
    ]
    report = status(ctx.state, run_id)
    assert report["review_queue"] == 1  # ...but queued
    assert report["identities"]["student"] == 6
    assert report["identities"]["staff"] == 0

    # A reviewer says "distinct": the next run does not ask again, and the queue is empty.
    ctx.state.review.decide({queue[0]["id"]: "distinct"})
    assert status(ctx.state, run_id)["review_queue"] == 0
    again = reconcile(ctx, run_id)
    assert again["to_review"] == 0
    assert again["new_identities"] == 0


def test_merge_then_undo_restores_the_prior_state(tmp_path: Path) -> None:
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=2))
    fill(store, iter(_extra()))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    do_plan(ctx, run_id)
    ids, review = ctx.state.identities, ctx.state.review
    before = ids.canonical_of(ctx.source_name, ["clash-p1", "p1"])
    merge_id = review.merge(ctx.source_name, "p1", before["clash-p1"])
    assert ids.canonical_of(ctx.source_name, ["p1"])["p1"] == before["clash-p1"]
    review.undo_merge(merge_id)
    assert ids.canonical_of(ctx.source_name, ["clash-p1", "p1"]) == before
    assert review.merges()[0]["undone_at"] is not None
