"""reconcile in the pipeline: scored matches join, ambiguous ones are queued, decisions are replayed."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
from pathlib import Path
from typing import Any

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Person, Profile
from ent_migrate.pipeline import do_plan, status
from ent_migrate.pipeline.reconcile import reconcile
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state._blocks import RunBlocks
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


def _blocks(ctx: Any) -> tuple[set[tuple[str, str]], int]:
    """(canonical id, block digest) of every indexed blocking key, and how many keys wait pending."""
    with ctx.state.engine.connect() as conn:
        indexed = conn.exec_driver_sql(
            "SELECT i.canonical_id, b.block FROM identity_blocks b JOIN identities i ON i.id = b.identity_id"
        ).all()
        pending = conn.exec_driver_sql("SELECT count(*) FROM identity_blocks_pending").scalar_one()
    return {(c, b) for c, b in indexed}, int(pending)


def test_one_person_twice_is_caught_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of one: the second record of p0 is scored against an identity founded batches before,
    whose keys wait in the reconcile's own index, not yet in identity_blocks; at the end the index
    holds what keeping each batch's keys there at once gave."""
    monkeypatch.setattr("ent_migrate.state._sql.BATCH", 1)
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=4))
    fill(store, iter(_extra()))
    outcomes = []
    for deferred in (True, False):
        here = tmp_path / str(deferred)
        here.mkdir()
        ctx = context(here)
        run_id = open_run(ctx)
        seen: list[tuple[set[tuple[str, str]], int]] = []
        keep = ctx.state.identities.keep_batch

        def watched(*args: Any, ctx: Any = ctx, keep: Any = keep, seen: Any = seen) -> None:
            keep(*args)
            seen.append(_blocks(ctx))

        monkeypatch.setattr(ctx.state.identities, "keep_batch", watched)
        if not deferred:  # as before revision 0008: each batch's keys straight into identity_blocks
            monkeypatch.setattr(ctx.state.identities, "deferred_blocks", contextlib.nullcontext)
        do_plan(ctx, run_id)
        canon = ctx.state.identities.canonical_of(ctx.source_name, ["p0", "dup-p0", "twin-p0"])
        assert canon["dup-p0"] == canon["p0"]
        assert canon["twin-p0"] != canon["p0"]
        assert len(seen) > 5
        if deferred:
            assert all(not indexed and pending for indexed, pending in seen)  # kept aside while it ran
        outcomes.append((canon, _blocks(ctx)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1][1] == 0  # nothing left pending


def test_keys_of_one_hash_in_the_reconciles_own_index_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconcile's own index keys each digest by its hash(): with every digest of one hash (each
    lookup brings every identity kept so far back as a candidate), the identities, the blocking keys
    and the review queue are what distinct hashes give."""
    monkeypatch.setattr("ent_migrate.state._sql.BATCH", 2)
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=6))
    fill(store, iter(_extra()))
    outcomes = []
    found = {False: 0, True: 0}  # identities the lookups brought back, without and with collisions
    lookup = RunBlocks.identities

    def counted(self: RunBlocks, digests: Any) -> set[int]:
        ids = lookup(self, digests)
        found[colliding] += len(ids)
        return ids

    monkeypatch.setattr(RunBlocks, "identities", counted)
    for colliding in (False, True):
        if colliding:
            monkeypatch.setattr("ent_migrate.state._blocks.hash", lambda _digest: 7, raising=False)
        here = tmp_path / str(colliding)
        here.mkdir()
        ctx = context(here)
        do_plan(ctx, open_run(ctx))
        people = ["p0", "dup-p0", "twin-p0", "clash-p1", "p1", "p2", "p3"]
        canon = ctx.state.identities.canonical_of(ctx.source_name, people)
        groups = sorted(sorted(p for p in people if canon[p] == c) for c in set(canon.values()))
        queue = sorted((e["person_key"], e["candidate_key"], e["reason"]) for e in ctx.state.review.entries())
        blocks = sorted(b for _, b in _blocks(ctx)[0])
        outcomes.append((groups, queue, blocks))
    assert outcomes[0] == outcomes[1]
    assert found[True] > found[False]  # every key of one hash did bring more candidates back
    assert ["dup-p0", "p0"] in outcomes[0][0]  # the merge the index is there for still happens
    assert outcomes[0][1]  # and so does the INE conflict's review entry


def test_keys_a_stopped_reconcile_left_pending_are_indexed_by_the_next(tmp_path: Path) -> None:
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=4))
    fill(store, iter(_extra()))
    for name in ("whole", "stopped"):
        (tmp_path / name).mkdir()
    whole = context(tmp_path / "whole")
    do_plan(whole, open_run(whole))
    expected, _ = _blocks(whole)

    ctx = context(tmp_path / "stopped")
    run_id = open_run(ctx)
    identities = ctx.state.identities
    calls = 0
    keep = identities.keep_batch

    def stopping(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # Ctrl-C after the first batch was kept
        keep(*args)

    setattr(identities, "keep_batch", stopping)  # noqa: B010  # a stop, on this instance only
    with pytest.raises(KeyboardInterrupt):
        do_plan(ctx, run_id)
    indexed, pending = _blocks(ctx)
    assert not indexed
    assert pending > 0
    again = context(tmp_path / "stopped")
    do_plan(again, run_id)
    assert _blocks(again) == (expected, 0)


def test_a_full_temporary_folder_is_a_message_and_the_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The private index's own SQLite fills up (a page limit stands for a full disk): the error is the
    OSError the command line reports as "no space left", not sqlite3's, and the next plan ends well."""
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=4))
    fill(store, iter(_extra()))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    monkeypatch.setattr("ent_migrate.state._blocks._INDEX_PRAGMAS", ("page_size=512", "max_page_count=3"))
    with pytest.raises(OSError, match="no space left for reconcile's temporary index") as raised:
        do_plan(ctx, run_id)
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    again = context(tmp_path)
    do_plan(again, run_id)
    canon = again.state.identities.canonical_of(again.source_name, ["p0", "dup-p0"])
    assert canon["dup-p0"] == canon["p0"]
    assert _blocks(again)[1] == 0
