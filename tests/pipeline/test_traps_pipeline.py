"""The reconciliation traps (ent_migrate.fixtures.traps) through the real pipeline: three sources planned
one after the other on one state store, into a target that already holds accounts. Every trap with a
unique answer is resolved exactly, the others wait in the review queue, and a source person whose
account the target already holds lands on it rather than on a second one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.fixtures.traps import Trap, children_of, traps
from ent_migrate.model import Guardianship, Person, Profile, Record, RecordKind
from ent_migrate.pipeline import PipelineContext, do_plan
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state.identities import target_source
from tests.pipeline._helpers import context, engine, fill

TRAPS = traps()
TARGET = target_source("b")


def _with_children(source: str, people: list[Person]) -> list[Record]:
    """The source's people, and for each guardian their children and the guardianships (what
    ``children_of`` says the facts hold)."""
    out: list[Record] = list(people)
    for person in people:
        for ine in children_of().get(person.id, ()):
            child = f"{source}-child-{ine}"
            out.append(
                Person(
                    id=child,
                    profile=Profile.STUDENT,
                    last_name=person.last_name,
                    first_name=f"Enfant{ine[-3:]}",
                    birth_date=dt.date(2014, 1, 1),
                    ine=ine,
                    structures=person.structures,
                )
            )
            out.append(Guardianship(guardian_id=person.id, student_id=child, legal_level=1, kinship="10"))
    return out


def _plan_all(tmp_path: Path) -> dict[str, tuple[PipelineContext, str]]:
    db = engine(tmp_path)
    target = MemoryConnector.named_store("dst")
    for trap in TRAPS:
        for source, person in trap.people:
            if source == "target":
                target.put(person)
    planned: dict[str, tuple[PipelineContext, str]] = {}
    for source in ("aaf", "siecle", "onde"):
        people = [p for t in TRAPS for s, p in t.people if s == source]
        fill(MemoryConnector.named_store(source), iter((r, None) for r in _with_children(source, people)))
        ctx = context(tmp_path / source, source=f"memory:{source}", source_name=source, db=db)
        run_id = open_run(ctx)
        do_plan(ctx, run_id)
        planned[source] = (ctx, run_id)
    return planned


def _identity(ctx: PipelineContext, source: str, key: str) -> str:
    return ctx.state.identities.canonical_of(TARGET if source == "target" else source, [key])[key]


def test_every_trap_through_the_pipeline(tmp_path: Path) -> None:
    planned = _plan_all(tmp_path)
    ctx = planned["onde"][0]
    queued = {(e["source"], e["person_key"]) for e in ctx.state.review.entries()}
    for trap in TRAPS:
        keys = [(TARGET if s == "target" else s, p.id) for s, p in trap.people]
        if trap.answer == "review":
            assert queued & set(keys), f"{trap.name}: should wait for a reviewer"
            continue
        assert not queued & set(keys), f"{trap.name}: has a unique answer, yet waits for a reviewer"
        identities = {_identity(ctx, s, p.id) for s, p in trap.people}
        expected = 1 if trap.answer == "same" else len(trap.people)
        assert len(identities) == expected, f"{trap.name}: {'missed' if expected == 1 else 'false'} merge"


def _trap(name: str) -> Trap:
    return next(t for t in TRAPS if t.name == name)


def test_a_person_the_target_holds_lands_on_that_account(tmp_path: Path) -> None:
    planned = _plan_all(tmp_path)
    ctx, run_id = planned["siecle"]
    for name in ("swapped_names", "changed_school", "accents", "usage_and_birth_name"):
        (_, account), (_, person) = _trap(name).people
        held: dict[str, Any] = ctx.state.items.present(run_id, str(RecordKind.PERSON), [account.id, person.id])
        # The account's key carries the source person's record; the person's own id is no second account.
        assert person.id in held[account.id]["source_ids"], name
        assert ctx.state.items.expected_for(run_id, [account])[("person", account.id)].target_payload, name
        kept = {r.key: r.action for rows in ctx.state.items.scan_for_report(run_id) for r in rows if r.kind == "person"}
        assert kept[account.id] in ("update", "move"), name  # "move": the changed school
        assert kept[person.id] == "skip", name
