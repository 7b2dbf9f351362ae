"""A reconcile stopped at any statement, then run again, ends as one never stopped.

The re-run skips the people already aliased, so whatever a batch keeps with its aliases (facts,
blocking keys, review entries, the target's logins) must be kept with them or before them. The fault
is SQLite's own: a progress handler interrupts the statement under way at the n-th call, reads and
writes alike (``sqlite3.OperationalError: interrupted``), as a kill or a full disk would stop it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, text

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.model import Guardianship, Person, Profile
from ent_migrate.pipeline import do_plan
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state._sql import upsert
from tests.pipeline._helpers import UAI, context, district, engine, fill
from tests.pipeline.test_reconcile import _extra

BORN = dt.date(2014, 1, 1)
STEP = 50  # SQLite VM instructions between two calls of the progress handler


def _person(pid: str, last: str, first: str, profile: Profile = Profile.STUDENT, **extra: Any) -> Person:
    return Person(id=pid, profile=profile, last_name=last, first_name=first, structures=(UAI,), **extra)


def _fill() -> None:
    """A source with an INE conflict and a person twice, over a target that already holds accounts
    with their own logins (one to review, one a guardian known through the child)."""
    MemoryConnector.reset()
    fill(MemoryConnector.named_store("src"), iter([*district(pupils=4), *_extra()]))
    dst = MemoryConnector.named_store("dst")
    dst.put(_person("v-100", "N'Diaye", "Eleve0", birth_date=BORN, ine="0000000000A", login="e.ndiaye"))
    dst.put(_person("v-300", "Roy", "Léa", Profile.TEACHER, login="lea.roy"))
    dst.put(_person("v-200", "Dupont", "Luc", Profile.GUARDIAN, login="ldupont"))
    dst.put(Guardianship(guardian_id="v-200", student_id="v-100", legal_level=1, kinship="10"))
    src = MemoryConnector.named_store("src")
    src.put(_person("s-t9", "ROY", "Lea", Profile.TEACHER))
    src.put(dataclasses.replace(_person("s-p9", "Abel", "Zoé", birth_date=BORN), login="zoe.abel"))


def _reconciled(db: Engine, run_id: str) -> dict[str, Any]:
    """All that reconcile keeps and plan decides, comparable across stores (the row ids each store
    allots mapped to canonical ids, the run's id left out)."""
    with db.connect() as conn:
        ids: dict[Any, Any] = dict(conn.execute(text("SELECT id, canonical_id FROM identities")).all())

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return sorted(
                tuple(ids.get(v, v) if n == 0 else str(v).replace(run_id, "RUN") for n, v in enumerate(r))
                for r in conn.execute(text(sql))
            )

        return {
            "identities": rows("SELECT canonical_id, profile, ine FROM identities"),
            "aliases": rows("SELECT identity_id, source, source_id FROM identity_aliases"),
            "facts": rows("SELECT identity_id, facts FROM identity_facts"),
            "blocks": rows("SELECT identity_id, block FROM identity_blocks"),
            "queue": rows("SELECT source, person_key, candidate_key, reason, score FROM review_queue"),
            "id_map": rows("SELECT source, old_id, new_id, old_login, new_login FROM id_map"),
            "plan": rows("SELECT kind, key, action, target_payload FROM items"),
        }


class _Interrupter:
    """Counts the progress handler's calls on every connection of an engine and, when armed, makes
    the *at*-th call interrupt the statement under way (once)."""

    def __init__(self, db: Engine) -> None:
        self.calls = 0
        self.at: int | None = None
        self.fired = False
        event.listen(db, "connect", self._on_connect)
        db.dispose()  # connections opened before would have no handler

    def _on_connect(self, dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.set_progress_handler(self._tick, STEP)

    def _tick(self) -> int:
        self.calls += 1
        if self.at is not None and not self.fired and self.calls >= self.at:
            self.fired = True
            return 1  # non-zero: SQLite abandons the statement, the driver raises "interrupted"
        return 0


def _plan_unwrapped(ctx: Any, run_id: str) -> None:
    """Plan, with the driver's error raised as itself (SQLAlchemy wraps it), so that the test can
    tell the injected stop from any other failure."""
    try:
        do_plan(ctx, run_id)
    except Exception as exc:
        raise (exc.orig if hasattr(exc, "orig") else exc) from None


def _plan_once(here: Path, at: float | None, total: int = 0) -> tuple[dict[str, Any], int]:
    _fill()
    db = engine(here)
    interrupter = _Interrupter(db)
    ctx = context(here, db=db)
    run_id = open_run(ctx)
    interrupter.calls = 0
    if at is not None:
        interrupter.at = max(1, int(at * total))
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            _plan_unwrapped(ctx, run_id)
        assert interrupter.fired
        # The next command: a new process, with a new context on the same store.
        ctx = context(here, db=db)
        do_plan(ctx, run_id)
    else:
        do_plan(ctx, run_id)
    calls = interrupter.calls  # before reading the result back, which ticks too
    return _reconciled(db, run_id), calls


@pytest.fixture(scope="module")
def uninterrupted() -> Iterator[tuple[dict[str, Any], int]]:
    with tempfile.TemporaryDirectory() as here:
        yield _plan_once(Path(here), None)


def test_the_scenario_reaches_every_write_it_means_to_test(uninterrupted: tuple[dict[str, Any], int]) -> None:
    whole, calls = uninterrupted
    assert calls > 100  # enough statements for the stops to land all over the plan
    assert {r[3] for r in whole["queue"]} >= {"ine_conflict"}
    assert any(r[0] == "@b" for r in whole["queue"])  # a target account waiting for a reviewer
    assert any(r[0] == "@b" and r[3] == "ldupont" for r in whole["id_map"])  # the target's logins


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(min_value=0.0, max_value=1.0))
def test_a_plan_stopped_at_any_statement_then_rerun_ends_as_an_uninterrupted_one(
    uninterrupted: tuple[dict[str, Any], int], where: float
) -> None:
    whole, calls = uninterrupted
    with tempfile.TemporaryDirectory() as here:
        again, _ = _plan_once(Path(here), where, calls)
    assert again == whole


def test_a_failed_review_write_loses_no_review_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uninterrupted: tuple[dict[str, Any], int]
) -> None:
    """The batch's last write fails (a full disk): kept one by one, its people were aliased already,
    and the re-run never queued their INE conflict."""
    whole, _ = uninterrupted
    _fill()
    db = engine(tmp_path)
    ctx = context(tmp_path, db=db)
    run_id = open_run(ctx)

    def failing(conn: Any, tbl: Any, *args: Any) -> None:
        if tbl.name == "review_queue":
            raise OSError(28, "No space left on device")
        upsert(conn, tbl, *args)

    monkeypatch.setattr("ent_migrate.state.review.upsert", failing)  # review.py's own name for it
    with pytest.raises(OSError, match="No space left"):
        do_plan(ctx, run_id)
    monkeypatch.undo()
    do_plan(context(tmp_path, db=db), run_id)
    assert _reconciled(db, run_id) == whole
