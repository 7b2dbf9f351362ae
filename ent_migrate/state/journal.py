"""The journal: every operation on a target, written as an *intent* and committed before it is sent,
then marked done or failed. A resumed run skips what is done and re-sends intents (with the same
deterministic op id, so a write that did land is an upsert, not a duplicate)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import Engine, func, select

from ent_migrate.outcomes import Action, JournalStatus
from ent_migrate.state._sql import among, now, table, update_each, upsert

__all__ = ["Intent", "Journal", "Outcome"]


@dataclasses.dataclass(frozen=True, slots=True)
class Intent:
    op_id: str
    item_id: int
    kind: str
    key: str
    action: Action


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    op_id: str
    item_id: int
    attempts: int
    error: str | None  # None: done


class Journal:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._journal = table("journal")

    def intend(self, run_id: str, intents: Sequence[Intent]) -> set[str]:
        """Journal *intents* (committed before anything is sent) and return the op ids already done."""
        journal = self._journal
        with self.engine.begin() as conn:
            upsert(
                conn,
                journal,
                [
                    {
                        "op_id": i.op_id,
                        "run_id": run_id,
                        "item_id": i.item_id,
                        "kind": i.kind,
                        "key": i.key,
                        "action": i.action,
                        "status": JournalStatus.INTENT,
                        "attempts": 0,
                        "created_at": now(),
                        "updated_at": now(),
                    }
                    for i in intents
                ],
                ["op_id"],
                [],
            )
            return set(
                conn.execute(
                    select(journal.c.op_id).where(
                        among(conn, journal.c.op_id, [i.op_id for i in intents]), journal.c.status == JournalStatus.DONE
                    )
                ).scalars()
            )

    def record(self, outcomes: Sequence[Outcome]) -> None:
        rows = [
            {
                "op_id": o.op_id,
                "attempts": o.attempts,
                "error": o.error,
                "status": JournalStatus.DONE if o.error is None else JournalStatus.FAILED,
            }
            for o in outcomes
        ]
        update_each(self.engine, self._journal, "op_id", rows, updated_at=now())

    def started(self, run_id: str) -> bool:
        """Has any operation of this run been journaled (so its plan is being executed)?"""
        journal = self._journal
        with self.engine.connect() as conn:
            return conn.execute(select(journal.c.op_id).where(journal.c.run_id == run_id).limit(1)).first() is not None

    def counts(self, run_id: str) -> dict[str, int]:
        journal = self._journal
        with self.engine.connect() as conn:
            return {
                str(k): int(v)
                for k, v in conn.execute(
                    select(journal.c.status, func.count()).where(journal.c.run_id == run_id).group_by(journal.c.status)
                ).all()
            }
