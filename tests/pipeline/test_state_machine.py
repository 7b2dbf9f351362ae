"""A hypothesis state machine over extract / plan / apply / crash / resume / source changes.

Invariants: after a run that finishes, the target holds exactly the source (nothing lost, nothing
duplicated, departed people disabled, stale links deleted), verify marks every item ``=``, and a
second run changes nothing. A crash is a fault no real server produces on demand, so it is injected:
the target's ``write`` raises a BaseException after N writes, aborting apply mid-batch, like a kill.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Membership, Person, RecordKind
from ent_migrate.pipeline import PipelineContext, do_plan, do_run
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import UAI, context, district, engine, fill


class Crash(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the pipeline catches it."""


def _crashing(ctx: PipelineContext, after: int) -> PipelineContext:
    real = ctx.target.write
    count = {"n": 0}

    def write(op: Any, blob: Any = None) -> None:
        count["n"] += 1
        if count["n"] > after:
            raise Crash
        real(op, blob)

    ctx.target.write = write  # type: ignore[method-assign]  # fault injection on one instance
    return ctx


class MigrationMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        MemoryConnector.reset()
        self.tmp = Path(tempfile.mkdtemp(prefix="ent-migrate-sm-"))
        self.db = engine(self.tmp)
        self.src = MemoryConnector.named_store("src")
        fill(self.src, district(pupils=6))
        self.finished = False

    def teardown(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _ctx(self) -> PipelineContext:
        return context(self.tmp, db=self.db, target_options={"transient_error": 0.2, "seed": 5})

    @rule(i=st.integers(0, 5), name=st.sampled_from(["Zoé", "Anaïs", "Jean-Noël"]))
    def rename_pupil(self, i: int, name: str) -> None:
        pupil = self.src.records[RecordKind.PERSON].get(f"p{i}")
        if isinstance(pupil, Person):
            self.src.put(dataclasses.replace(pupil, first_name=name))
            self.finished = False

    @rule(i=st.integers(0, 5))
    def guardian_leaves(self, i: int) -> None:
        self.src.remove(RecordKind.PERSON, f"g{i}")
        self.finished = False

    @rule(i=st.integers(0, 5), code=st.sampled_from(["CM1", "CM2"]))
    def pupil_changes_class(self, i: int, code: str) -> None:
        for key in [k for k in self.src.records[RecordKind.MEMBERSHIP] if k.startswith(f"p{i}|")]:
            self.src.remove(RecordKind.MEMBERSHIP, key)
        self.src.put(Membership(person_id=f"p{i}", uai=UAI, group_code=code))
        self.finished = False

    @rule()
    def dry_run(self) -> None:
        dst = MemoryConnector.named_store("dst")
        writes = dst.writes
        ctx = self._ctx()
        do_plan(ctx, open_run(ctx), refresh=True)
        assert dst.writes == writes, "plan wrote to the target"

    @rule(after=st.integers(0, 40))
    def crash_during_run(self, after: int) -> None:
        try:
            do_run(_crashing(self._ctx(), after))
        except Crash:
            self.finished = False

    @rule()
    def run_to_the_end(self) -> None:
        out = do_run(self._ctx())
        assert out["apply"]["failed"] == 0, _errors(self.db)
        marks = out["verify"]["marks"]
        assert marks["="] > 0
        assert all(n == 0 for m, n in marks.items() if m != "=")
        if out["plan"] is None:
            # It finished a plan made before a crash: the reviewed plan is what it executes, even if the
            # source changed since. The next run plans afresh and brings the target up to date.
            out = do_run(self._ctx())
            assert out["apply"]["failed"] == 0, _errors(self.db)
            assert all(n == 0 for m, n in out["verify"]["marks"].items() if m != "=")
        self.finished = True
        # and then a second run changes nothing
        dst = MemoryConnector.named_store("dst")
        writes = dst.writes
        again = do_run(self._ctx())
        assert again["apply"]["sent"] == 0
        assert dst.writes == writes

    @invariant()
    def target_is_the_source_after_a_finished_run(self) -> None:
        if not getattr(self, "finished", False):
            return
        dst = MemoryConnector.named_store("dst")
        for kind in RecordKind:
            source_keys = set(self.src.records[kind])
            target_keys = set(dst.records[kind])
            if kind is RecordKind.PERSON:
                # departed people are kept, disabled; nobody is lost or duplicated
                assert source_keys <= target_keys
                assert target_keys - source_keys == set(dst.disabled)
                for key in source_keys:
                    ours, theirs = self.src.records[kind][key], dst.records[kind][key]
                    assert isinstance(ours, Person)
                    assert isinstance(theirs, Person)
                    assert theirs.login
                    assert dataclasses.replace(theirs, login=None) == dataclasses.replace(ours, login=None)
            else:
                assert source_keys == target_keys, kind
                for key in source_keys:
                    assert dst.records[kind][key] == self.src.records[kind][key]


TestMigrationMachine = MigrationMachine.TestCase
TestMigrationMachine.settings = settings(
    max_examples=8,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _errors(db: Any) -> list[str]:
    """The errors of failed items, to say why a run failed."""
    from sqlalchemy import select

    from ent_migrate.state._sql import table

    items = table("items")
    with db.connect() as conn:
        return [
            f"{r.kind} {r.error}"
            for r in conn.execute(select(items.c.kind, items.c.error).where(items.c.state == "failed"))
        ]


def test_a_run_resumed_after_a_crash_executes_its_reviewed_plan_then_the_next_one_catches_up(
    tmp_path: Path,
) -> None:
    """The case hypothesis found: a crash before any write, then the source changes. The resumed run
    executes the plan that was made (and reviewed), not a newer one; the next run plans afresh."""
    db = engine(tmp_path)
    fill(MemoryConnector.named_store("src"), district(pupils=6))
    with contextlib.suppress(Crash):
        do_run(_crashing(context(tmp_path, db=db), 0))
    MemoryConnector.named_store("src").remove(RecordKind.PERSON, "g0")
    resumed = do_run(context(tmp_path, db=db))
    assert resumed["plan"] is None  # the pending plan, finished
    assert "g0" in MemoryConnector.named_store("dst").records[RecordKind.PERSON]
    fresh = do_run(context(tmp_path, db=db))
    assert fresh["plan"]["actions"]["disable"] == 1
    assert "g0" in MemoryConnector.named_store("dst").disabled
    assert do_run(context(tmp_path, db=db))["apply"]["sent"] == 0
