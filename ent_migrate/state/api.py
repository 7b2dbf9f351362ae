"""The state store's API: the one way stages and commands read and write the state.

``StateStore(engine)`` groups small typed APIs, one per area; all SQL lives behind them, in this
package. Each method is its own short transaction over a batch, so a kill at any moment leaves a
state that the next run resumes from::

    store.runs        runs and stage checkpoints           (runs.py)
    store.items       per-item records, decisions, marks   (items.py)
    store.journal     intent before effect                 (journal.py)
    store.identities  identities, aliases, id/login map    (identities.py)
    store.problems    what could not be read               (problems.py)
    store.reports     the reports written, by revision     (reports_log.py)
    store.review      review queue, merges and their undo  (review.py)
    store.lock(...)   one writing command at a time        (lock.py)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine

from ent_migrate.state.identities import Identities
from ent_migrate.state.items import Items
from ent_migrate.state.journal import Journal
from ent_migrate.state.lock import hold_lock
from ent_migrate.state.problems import InputProblems
from ent_migrate.state.reports_log import ReportsLog
from ent_migrate.state.review import Review
from ent_migrate.state.runs import Runs

__all__ = ["StateStore"]


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs = Runs(engine)
        self.items = Items(engine)
        self.journal = Journal(engine)
        self.identities = Identities(engine)
        self.problems = InputProblems(engine)
        self.reports = ReportsLog(engine)
        self.review = Review(engine)

    def refresh_statistics(self) -> None:
        """After a bulk load (extract, reconcile): the query planner's statistics, refreshed. On
        PostgreSQL, until autovacuum comes by, they still say that the tables a district was just
        loaded into are nearly empty, and the planner read every guardianship of the run for each
        batch of reconcile (issue 15). SQLite plans without them (its ANALYZE would read every index
        of the run): nothing to do there."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    @contextlib.contextmanager
    def lock(self, command: str, run_id: str | None = None) -> Iterator[None]:
        """Hold the write lock (raises StateLockedError naming who holds it)."""
        with hold_lock(self.engine, command, run_id):
            yield
