"""The review queue and the merges: what reconciliation could not decide, and how to undo a merge.

A queue entry is one (source, person key, candidate identity) pair with its score and explanation.
A reviewer's decision (``merge`` / ``distinct``) is stored on the entry and replayed on every later
run: reconcile reads :meth:`Review.decisions` before scoring, so a decided pair is never asked again.
A merge moves the person's alias into the candidate identity and is logged in ``identity_merges``;
:meth:`Review.undo_merge` moves it back, so merge then undo restores the prior state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from ent_migrate.state._sql import among, now, table, upsert

__all__ = ["Review", "queue_entries"]


def queue_entries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue entries (source, person_key, candidate_key, profile, reason, score, matched, differed)
    within the caller's transaction: reconcile keeps them with the batch's identities
    (:meth:`~ent_migrate.state.identities.Identities.keep_batch`). An entry already queued keeps its
    decision."""
    upsert(
        conn,
        table("review_queue"),
        [{**r, "created_at": now()} for r in rows],
        ["source", "person_key", "candidate_key"],
        ["reason", "score", "matched", "differed"],
    )


class Review:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue = table("review_queue")
        self._merges = table("identity_merges")
        self._identities = table("identities")
        self._aliases = table("identity_aliases")

    # -- queue ---------------------------------------------------------------------------------
    def entries(self, *, pending_only: bool = False) -> list[dict[str, Any]]:
        q = self._queue
        query = select(q).order_by(q.c.source, q.c.person_key, q.c.candidate_key)
        if pending_only:
            query = query.where(q.c.decision.is_(None))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def pending_count(self) -> int:
        q = self._queue
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(q).where(q.c.decision.is_(None))).scalar() or 0)

    def decisions(self, source: str, person_keys: Sequence[str]) -> dict[tuple[str, str], str]:
        """(person key, candidate identity) → "merge" | "distinct", for the decided pairs of these people."""
        q = self._queue
        if not person_keys:
            return {}
        query = select(q.c.person_key, q.c.candidate_key, q.c.decision).where(
            q.c.source == source, among(self.engine, q.c.person_key, person_keys), q.c.decision.is_not(None)
        )
        with self.engine.connect() as conn:
            return {(r.person_key, r.candidate_key): str(r.decision) for r in conn.execute(query)}

    def decide(self, entry_ids: Mapping[int, str]) -> None:
        """Record decisions by queue entry id, in one transaction."""
        q = self._queue
        with self.engine.begin() as conn:
            for entry_id, decision in entry_ids.items():
                conn.execute(update(q).where(q.c.id == entry_id).values(decision=decision, decided_at=now()))

    # -- merges --------------------------------------------------------------------------------
    def merge(self, source: str, source_id: str, into_canonical: str) -> int:
        """Move the alias (source, source_id) into the identity *into_canonical*; the merge's id."""
        ids, aliases = self._identities, self._aliases
        with self.engine.begin() as conn:
            into = conn.execute(select(ids.c.id).where(ids.c.canonical_id == into_canonical)).scalar_one()
            current = conn.execute(
                select(ids.c.canonical_id)
                .join(aliases, aliases.c.identity_id == ids.c.id)
                .where(aliases.c.source == source, aliases.c.source_id == source_id)
            ).scalar_one()
            conn.execute(
                update(aliases)
                .where(aliases.c.source == source, aliases.c.source_id == source_id)
                .values(identity_id=into)
            )
            result = conn.execute(
                self._merges.insert().values(
                    source=source,
                    source_id=source_id,
                    from_identity=current,
                    into_identity=into_canonical,
                    created_at=now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]  # one-column primary key

    def undo_merge(self, merge_id: int) -> None:
        """Move the alias back where it was before merge *merge_id*; refused if already undone."""
        m, ids, aliases = self._merges, self._identities, self._aliases
        with self.engine.begin() as conn:
            row = conn.execute(select(m).where(m.c.id == merge_id)).first()
            if row is None:
                raise LookupError(f"no merge {merge_id} in the state store")
            if row.undone_at is not None:
                raise LookupError(f"merge {merge_id} was already undone")
            back = conn.execute(select(ids.c.id).where(ids.c.canonical_id == row.from_identity)).scalar_one()
            conn.execute(
                update(aliases)
                .where(aliases.c.source == row.source, aliases.c.source_id == row.source_id)
                .values(identity_id=back)
            )
            conn.execute(update(m).where(m.c.id == merge_id).values(undone_at=now()))

    def merges(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(self._merges).order_by(self._merges.c.id))]
