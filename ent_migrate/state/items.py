"""Items: one row per record of a run — what the source holds, what the target should hold, what plan
decided, what apply did and what verify saw.

Every method works in batches (bulk statements, keyset scans), so memory stays one batch whatever
the size of the run, and each batch is its own short transaction.

An item is expected on the target when it has a ``target_fingerprint``; its expected record is then
``target_payload``, or the source's ``payload`` when that is NULL (a record expected as it came).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, case, delete, func, literal, null, or_, select, type_coerce, update

from ent_migrate.model import RECORD_TYPES, Document, Message, Production, Record, RecordKind, fingerprint_of
from ent_migrate.outcomes import WRITE_ACTIONS, Action, ItemState, Mark
from ent_migrate.state._rows import Decision, ExpectedRow, ExtractedRow, PlannedRow, ReportRow, extracted_row
from ent_migrate.state._sql import (
    BATCH,
    among,
    column_decoder,
    insert_rows,
    now,
    placeholder,
    scan,
    scan_items,
    table,
    update_each,
    upsert,
)

__all__ = ["BATCH", "Decision", "ExpectedRow", "ExtractedRow", "Items", "PlannedRow", "ReportRow", "extracted_row"]

_PREFIX_BATCH = 200  # key ranges per query: an OR of index ranges, kept to a short statement
#: children_of on PostgreSQL: each (lo, hi) range of the arrays is one index probe (keys are "C"-collated).
#: The subquery's OFFSET 0 keeps it one probe per range: joined flat, the planner guesses each range
#: holds a third of the run and reads every guardianship instead.
_PG_CHILDREN = (
    "SELECT x.id, x.key, x.payload FROM unnest(%s::text[], %s::text[]) AS r(lo, hi) CROSS JOIN LATERAL"
    " (SELECT i.id, i.key, i.payload FROM items i WHERE i.run_id = %s AND i.kind = %s"
    ' AND i.key >= r.lo COLLATE "C" AND i.key < r.hi COLLATE "C" AND i.payload IS NOT NULL OFFSET 0) AS x'
)
#: Kinds whose records name no school: the report reads nothing in their payload.
_NO_SCHOOL_KINDS = sorted(
    str(kind)
    for kind, cls in RECORD_TYPES.items()
    if kind != RecordKind.PERSON and "uai" not in {f.name for f in dataclasses.fields(cls)}
)


class Items:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._items = table("items")
        self._ledger = table("content_ledger")
        items = self._items
        # The expected record, where there is one (a target fingerprint): the stored one, else — NULL —
        # the source's (expect_as_extracted stores none for what the source gives as it is).
        self._expected_payload = type_coerce(
            case(
                (items.c.target_fingerprint.is_(None), null()),
                else_=func.coalesce(items.c.target_payload, items.c.payload),
            ),
            items.c.payload.type,
        ).label("target_payload")

    # -- extract -------------------------------------------------------------------------------
    def put_extracted(self, run_id: str, records: Sequence[Record]) -> None:
        """Upsert a batch of source records (re-running an interrupted extract overwrites)."""
        self.put_extracted_rows(run_id, [extracted_row(record) for record in records])

    def put_extracted_rows(self, run_id: str, extracted: Sequence[ExtractedRow]) -> None:
        """:meth:`put_extracted` of records already made into rows by :func:`extracted_row` (by a child
        process reading the source: pipeline/extract.py)."""
        rows, blobs = [], []
        stamp = now()  # one transaction, one time: and the store converts one datetime, not one per row
        for kind, key, fingerprint, payload, sha256, size in extracted:
            rows.append(
                {
                    "run_id": run_id,
                    "kind": kind,
                    "key": key,
                    "state": ItemState.EXTRACTED,
                    "source_fingerprint": fingerprint,
                    "payload": payload,
                    "attempts": 0,
                    "updated_at": stamp,
                }
            )
            if sha256 is not None:
                blobs.append(
                    {
                        "run_id": run_id,
                        "kind": kind,
                        "key": key,
                        "side": "source",
                        "sha256": sha256,
                        "size": size,
                        "created_at": stamp,
                    }
                )
        with self.engine.begin() as conn:
            upsert(
                conn,
                self._items,
                rows,
                ["run_id", "kind", "key"],
                ["state", "source_fingerprint", "payload", "updated_at"],
            )
            upsert(conn, self._ledger, blobs, ["run_id", "kind", "key", "side"], ["sha256", "size"])

    def forget(self, run_id: str) -> None:
        """Drop a run's items (a fresh read replaces the last one whole: nothing gone may linger)."""
        with self.engine.begin() as conn:
            conn.execute(delete(self._ledger).where(self._ledger.c.run_id == run_id))
            conn.execute(delete(self._items).where(self._items.c.run_id == run_id))

    # -- map -----------------------------------------------------------------------------------
    def expect_as_extracted(self, run_id: str, *, except_kind: RecordKind) -> int:
        """Expect every record but *except_kind* on the target as the source gave it — one UPDATE,
        without a round trip through Python and JSON, and without a copy: the expected record is the
        source's (``target_payload`` NULL, ``target_fingerprint`` the source's). Returns how many."""
        items = self._items
        with self.engine.begin() as conn:
            count = conn.execute(
                update(items)
                .where(items.c.run_id == run_id, items.c.payload.is_not(None), items.c.kind != except_kind)
                .values(
                    # NULL with a fingerprint: "as the source gave it" (_expected_payload). A copy
                    # doubled every row of the run, and each later full-run UPDATE rewrote both.
                    target_payload=None,
                    target_fingerprint=items.c.source_fingerprint,
                    state=ItemState.MAPPED,
                    not_expected=None,
                    updated_at=now(),
                )
            ).rowcount
        return int(count or 0)

    def scan_source(self, run_id: str, kind: RecordKind) -> Iterator[list[tuple[int, str, dict[str, Any]]]]:
        """(item id, key, source payload) of one kind, in batches."""
        decode = column_decoder(self.engine, self._items.c.payload)
        mark = placeholder(self.engine)
        where = f"run_id = {mark} AND kind = {mark} AND payload IS NOT NULL"
        for rows in scan_items(self.engine, "key, payload", where, (run_id, str(kind))):
            yield [(int(item_id), key, decode(raw)) for item_id, key, raw in rows]

    def children_of(self, run_id: str, guardian_ids: Iterable[str]) -> dict[str, list[str]]:
        """guardian id → their children's ids, from this run's guardianships, for these guardians only
        (reconcile asks a batch at a time: the whole map is hundreds of MB for an académie)."""
        wanted = sorted(set(guardian_ids))
        out: dict[str, list[str]] = {}
        if not wanted:
            return out
        decode = column_decoder(self.engine, self._items.c.payload)
        mark = placeholder(self.engine)
        postgres = self.engine.dialect.name == "postgresql"
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _PREFIX_BATCH):
                chunk = wanted[start : start + _PREFIX_BATCH]
                # A guardianship's key is "guardian|student": one range of the unique (run, kind, key)
                # index per guardian ("|" + 1 is "}"), each OR term whole so that each is one index
                # probe; the SQL is written here, not compiled by SQLAlchemy (800 binds a query). An id
                # holding "|" may bring another's rows, which the payload's guardian_id leaves out.
                kind = str(RecordKind.GUARDIANSHIP)
                params: tuple[Any, ...]
                if postgres:
                    # One index probe per range of the bound arrays (_PG_CHILDREN): PostgreSQL's
                    # planner may scan the whole table for an OR of 200 ranges (half a second at 100k).
                    sql, params = _PG_CHILDREN, ([g + "|" for g in chunk], [g + "}" for g in chunk], run_id, kind)
                else:
                    term = f"(run_id = {mark} AND kind = {mark} AND key >= {mark} AND key < {mark})"
                    # Only placeholders are joined in; every value is bound.
                    where = " OR ".join([term] * len(chunk))
                    sql = f"SELECT id, key, payload FROM items WHERE payload IS NOT NULL AND ({where})"  # noqa: S608
                    params = tuple(v for g in chunk for v in (run_id, kind, g + "|", g + "}"))
                mine = set(chunk)
                # By id, each once: on PostgreSQL a row in two ranges ("g1|x|c" is in g1's and g1|x's)
                # comes once per range.
                found = {int(item_id): (key, raw) for item_id, key, raw in conn.exec_driver_sql(sql, params)}
                for _, (key, raw) in sorted(found.items()):
                    if key.count("|") == 1:
                        # "guardian|student" says both ids: its payload is not decoded (a tenth of
                        # reconcile went there, issue 15); only a key with more "|" is ambiguous.
                        guardian, student = key.split("|")
                    else:
                        payload = decode(raw)
                        guardian, student = str(payload["guardian_id"]), str(payload["student_id"])
                    if guardian in mine:
                        out.setdefault(guardian, []).append(student)
        return out

    def set_expected(self, expected: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Store each item's expected target record (and its fingerprint); the item is then mapped."""
        rows = [{"id": i, "target_payload": dict(p), "target_fingerprint": fingerprint_of(p)} for i, p in expected]
        update_each(self.engine, self._items, "id", rows, state=ItemState.MAPPED, not_expected=None, updated_at=now())

    def drop_expected(self, item_ids: Iterable[int], because: str) -> None:
        """These items are no longer expected on the target, *because* (``mapping``: a class renamed or
        split; ``identity``: folded onto the account of the same person's other record). The item keeps
        its source payload, so the report still lists it; plan skips it with that reason and verify
        looks for nothing."""
        ids = sorted(set(item_ids))
        items = self._items
        for start in range(0, len(ids), BATCH):
            with self.engine.begin() as conn:
                conn.execute(
                    update(items)
                    .where(among(conn, items.c.id, ids[start : start + BATCH]))
                    .values(target_payload=None, target_fingerprint=None, not_expected=because, updated_at=now())
                )

    def present(self, run_id: str, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """key → source payload, for the keys of *kind* this run already has an item for."""
        wanted = sorted(set(keys))
        items = self._items
        out: dict[str, dict[str, Any] | None] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), BATCH):
                query = select(items.c.key, items.c.payload).where(
                    items.c.run_id == run_id,
                    items.c.kind == kind,
                    among(conn, items.c.key, wanted[start : start + BATCH]),
                )
                out.update((r.key, r.payload) for r in conn.execute(query))
        return out

    def source_rows(self, run_id: str, kind: str, keys: Iterable[str]) -> list[tuple[int, str, dict[str, Any]]]:
        """(item id, key, source payload) of the items of *kind* with these keys, in item order (as
        :meth:`scan_source` gives them): a lookup by key, for a few among a district."""
        wanted = sorted(set(keys))
        items = self._items
        out: list[tuple[int, str, dict[str, Any]]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), BATCH):
                query = select(items.c.id, items.c.key, items.c.payload).where(
                    items.c.run_id == run_id,
                    items.c.kind == kind,
                    items.c.payload.is_not(None),
                    among(conn, items.c.key, wanted[start : start + BATCH]),
                )
                out.extend((r.id, r.key, r.payload) for r in conn.execute(query))
        return sorted(out, key=lambda row: row[0])

    def reset_plan(self, run_id: str) -> None:
        """A plan is recomputed from scratch: forget target-only rows and earlier decisions."""
        items = self._items
        with self.engine.begin() as conn:
            conn.execute(delete(items).where(items.c.run_id == run_id, items.c.payload.is_(None)))
            # Only the rows that hold a decision: a first plan changes none, and a row an UPDATE
            # leaves alone is not rewritten (nor its index entries).
            decided = or_(
                *(c.is_not(None) for c in (items.c.action, items.c.reason, items.c.mark, items.c.mark_reason))
            )
            conn.execute(
                update(items)
                .where(items.c.run_id == run_id, decided)
                .values(action=None, reason=None, mark=None, mark_reason=None)
            )
            # What the last plan expected of an item map had dropped (a disable of a duplicate account
            # the target held) is the plan's, not map's: recomputed too.
            conn.execute(
                update(items)
                .where(items.c.run_id == run_id, items.c.not_expected.is_not(None))
                .values(target_payload=None, target_fingerprint=None)
            )

    def expected_for(
        self, run_id: str, records: Sequence[Record], *, payloads: bool = True
    ) -> dict[tuple[str, str], ExpectedRow]:
        """The stored expectation of each record the target holds, by (kind, key). Without *payloads*
        (verify compares fingerprints only) ``target_payload`` is None: the column is not read, nor
        decoded (or decrypted)."""
        items = self._items
        # One query per kind, its keys bound as one parameter (among): SQLAlchemy's tuple IN bound
        # two parameters per record and rendered them into the statement on every batch.
        by_kind: dict[str, list[str]] = {}
        for r in records:
            by_kind.setdefault(str(r.kind), []).append(r.key)
        payload = self._expected_payload if payloads else null().label("target_payload")
        found: dict[tuple[str, str], ExpectedRow] = {}
        with self.engine.connect() as conn:
            for kind, keys in by_kind.items():
                for row in conn.execute(
                    select(
                        items.c.id,
                        items.c.kind,
                        items.c.key,
                        payload,
                        items.c.target_fingerprint,
                        items.c.action,
                    ).where(items.c.run_id == run_id, items.c.kind == kind, among(conn, items.c.key, keys))
                ):
                    found[row.kind, row.key] = ExpectedRow(
                        row.id, row.kind, row.key, row.target_payload, row.target_fingerprint, row.action
                    )
        return found

    def decide(self, decisions: Sequence[Decision]) -> None:
        rows = [{"id": d.item_id, "action": d.action, "reason": d.reason} for d in decisions]
        update_each(self.engine, self._items, "id", rows)

    def add_target_only(
        self,
        run_id: str,
        rows: Sequence[tuple[Record, Action, str, Mapping[str, Any] | None]],
        *,
        mark: Mark | None = None,
        mark_reason: str | None = None,
    ) -> None:
        """Items the target holds and the source does not: (record, action, reason, expected payload)."""
        if not rows:
            return
        values = [
            {
                "run_id": run_id,
                "kind": str(record.kind),
                "key": record.key,
                "state": ItemState.PLANNED,
                "payload": None,
                "target_payload": dict(expected) if expected is not None else None,
                "target_fingerprint": fingerprint_of(expected) if expected is not None else None,
                "action": action,
                "reason": reason,
                "attempts": 0,
                "mark": mark,
                "mark_reason": mark_reason,
                "updated_at": now(),
            }
            for record, action, reason, expected in rows
        ]
        with self.engine.begin() as conn:
            insert_rows(conn, self._items, values)

    def decide_dropped(self, rows: Sequence[tuple[int, Action, str, Mapping[str, Any] | None]]) -> None:
        """(item id, action, reason, expected payload or None) for items map dropped whose record the
        target still holds (a duplicate account created before, a class before its rename)."""
        values = [
            {
                "id": i,
                "action": a,
                "reason": r,
                "target_payload": dict(e) if e is not None else None,
                "target_fingerprint": fingerprint_of(e) if e is not None else None,
            }
            for i, a, r, e in rows
        ]
        update_each(self.engine, self._items, "id", values)

    def settle_plan(self, run_id: str, create_reason: str, not_expected: Mapping[str, str]) -> None:
        """Every item still undecided once the target is read: a create when it is expected (the target
        does not hold it), else a skip with the reason map dropped it for (*not_expected*: code →
        reason); and every item of the run is then planned.

        One UPDATE, not one per rule: each rewrites every row of the run (its payloads with it), and
        three of them were most of the plan stage at 1M accounts (issue 15)."""
        items = self._items
        undecided = items.c.action.is_(None)
        expected = items.c.target_fingerprint.is_not(None)
        dropped = sorted(not_expected.items())
        action = case(
            (~undecided, items.c.action),
            (expected, literal(str(Action.CREATE))),
            *((items.c.not_expected == code, literal(str(Action.SKIP))) for code, _ in dropped),
            else_=items.c.action,
        )
        reason = case(
            (~undecided, items.c.reason),
            (expected, literal(create_reason)),
            *((items.c.not_expected == code, literal(why)) for code, why in dropped),
            else_=items.c.reason,
        )
        with self.engine.begin() as conn:
            conn.execute(
                update(items)
                .where(items.c.run_id == run_id)
                .values(action=action, reason=reason, state=ItemState.PLANNED, updated_at=now())
            )

    def to_validate(
        self, run_id: str, kinds: Iterable[str], actions: Iterable[Action]
    ) -> Iterator[list[tuple[int, str, dict[str, Any]]]]:
        """(item id, kind, expected payload) of the items plan checks against the target's rules."""
        items = self._items
        query = select(items.c.id, items.c.kind, self._expected_payload).where(
            items.c.run_id == run_id, items.c.kind.in_(sorted(kinds)), items.c.action.in_(sorted(actions))
        )
        for rows in scan(self.engine, query, items.c.id):
            yield [(r.id, r.kind, r.target_payload) for r in rows]

    def action_counts(self, run_id: str) -> dict[str, int]:
        items = self._items
        counts = {str(a): 0 for a in Action}
        with self.engine.connect() as conn:
            for action, n in conn.execute(
                select(items.c.action, func.count()).where(items.c.run_id == run_id).group_by(items.c.action)
            ):
                counts[str(action or Action.SKIP)] = counts.get(str(action or Action.SKIP), 0) + int(n)
        return counts

    def listed(self, run_id: str, actions: Iterable[Action], limit: int) -> list[tuple[str, str, str, str]]:
        """(kind, key, action, reason) of the first *limit* items with these actions (for a refusal)."""
        items = self._items
        with self.engine.connect() as conn:
            return [
                (r.kind, r.key, r.action, r.reason or "")
                for r in conn.execute(
                    select(items.c.kind, items.c.key, items.c.action, items.c.reason)
                    .where(items.c.run_id == run_id, items.c.action.in_(sorted(actions)))
                    .order_by(items.c.id)
                    .limit(limit)
                )
            ]

    # -- apply ---------------------------------------------------------------------------------
    def scan_planned(self, run_id: str, kind: str, action: Action) -> Iterator[list[PlannedRow]]:
        """Planned writes of one kind and action not yet applied, in batches."""
        items = self._items
        query = select(
            items.c.id, items.c.kind, items.c.key, items.c.action, self._expected_payload, items.c.target_fingerprint
        ).where(
            items.c.run_id == run_id, items.c.kind == kind, items.c.action == action, items.c.state == ItemState.PLANNED
        )
        for rows in scan(self.engine, query, items.c.id):
            yield [
                PlannedRow(r.id, r.kind, r.key, Action(r.action), r.target_payload, r.target_fingerprint) for r in rows
            ]

    def mark_applied(self, item_ids: Sequence[int]) -> None:
        if not item_ids:
            return
        items = self._items
        with self.engine.begin() as conn:
            conn.execute(
                update(items).where(among(conn, items.c.id, item_ids)).values(state=ItemState.APPLIED, updated_at=now())
            )

    def record_outcomes(self, outcomes: Sequence[tuple[int, int, str | None]]) -> None:
        """(item id, attempts, error or None) of sent operations: applied, or failed with the error."""
        rows = [
            {"id": i, "attempts": a, "error": e, "state": ItemState.APPLIED if e is None else ItemState.FAILED}
            for i, a, e in outcomes
        ]
        update_each(self.engine, self._items, "id", rows, updated_at=now())

    def pending_writes(self, run_id: str) -> int:
        items = self._items
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        items.c.run_id == run_id,
                        items.c.state == ItemState.PLANNED,
                        items.c.action.in_(sorted(WRITE_ACTIONS)),
                    )
                ).scalar()
                or 0
            )

    # -- verify --------------------------------------------------------------------------------
    def clear_marks(self, run_id: str) -> None:
        items = self._items
        with self.engine.begin() as conn:
            conn.execute(update(items).where(items.c.run_id == run_id).values(mark=None, mark_reason=None))

    def set_marks(self, marks: Sequence[tuple[int, Mark, str]]) -> None:
        rows = [{"id": i, "mark": m, "mark_reason": r} for i, m, r in marks]
        update_each(self.engine, self._items, "id", rows)

    def record_target_blobs(self, run_id: str, records: Sequence[Message | Document | Production]) -> None:
        rows = [
            {
                "run_id": run_id,
                "kind": str(r.kind),
                "key": r.key,
                "side": "target",
                "sha256": r.sha256,
                "size": r.size,
                "created_at": now(),
            }
            for r in records
        ]
        with self.engine.begin() as conn:
            upsert(conn, self._ledger, rows, ["run_id", "kind", "key", "side"], ["sha256", "size"])

    def mark_unseen(self, run_id: str) -> None:
        """Expected but never seen on the target: an error if apply failed on it, else missing."""
        items = self._items
        with self.engine.begin() as conn:
            unseen = (items.c.run_id == run_id, items.c.mark.is_(None), items.c.target_fingerprint.is_not(None))
            conn.execute(
                update(items)
                .where(*unseen, items.c.state == ItemState.FAILED)
                .values(mark=Mark.ERROR, mark_reason=items.c.error)
            )
            conn.execute(update(items).where(*unseen).values(mark=Mark.MISSING, mark_reason="missing on the target"))
            conn.execute(
                update(items)
                .where(items.c.run_id == run_id, items.c.mark == Mark.SAME, items.c.state != ItemState.FAILED)
                .values(state=ItemState.VERIFIED, updated_at=now())
            )

    def mark_counts(self, run_id: str) -> dict[str, int]:
        items = self._items
        marks = {str(m): 0 for m in Mark}
        with self.engine.connect() as conn:
            for mark, n in conn.execute(
                select(items.c.mark, func.count())
                .where(items.c.run_id == run_id, items.c.mark.is_not(None))
                .group_by(items.c.mark)
            ):
                marks[str(mark)] = int(n)
        return marks

    # -- reports and status --------------------------------------------------------------------
    def counts_by_kind(self, run_id: str, *, marks: bool) -> dict[str, dict[str, int]]:
        """kind → action (or mark) → count."""
        items = self._items
        column = items.c.mark if marks else items.c.action
        query = select(items.c.kind, column, func.count()).where(items.c.run_id == run_id)
        if marks:
            query = query.where(items.c.mark.is_not(None))
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for kind, value, n in conn.execute(query.group_by(items.c.kind, column)):
                label = str(value or Action.SKIP)
                out.setdefault(kind, {})[label] = out.get(kind, {}).get(label, 0) + int(n)
        return out

    def scan_for_report(self, run_id: str) -> Iterator[list[ReportRow]]:
        """Every item of the run, in id order and in batches, as the report reads it."""
        decode = column_decoder(self.engine, self._items.c.payload)
        mark = placeholder(self.engine)
        # Decode one JSON document per item, not two: the expected record, else the source's. A kind
        # without a school (a guardianship, a message) has nothing the report reads in it: not decoded.
        # Read as plain rows (scan_items): SQLAlchemy's took two thirds of this scan (issue 15).
        columns = (
            "kind, key, action, reason, mark, mark_reason,"
            f" CASE WHEN kind IN ({', '.join([mark] * len(_NO_SCHOOL_KINDS))}) THEN NULL"
            " ELSE coalesce(target_payload, payload) END,"
            " payload IS NOT NULL, target_fingerprint IS NOT NULL"
        )
        for rows in scan_items(self.engine, columns, f"run_id = {mark}", (*_NO_SCHOOL_KINDS, run_id)):
            yield [
                ReportRow(
                    kind,
                    key,
                    action,
                    reason,
                    mark_,
                    mark_reason,
                    decode(raw),
                    bool(from_source),
                    bool(expected),
                )
                for _, kind, key, action, reason, mark_, mark_reason, raw, from_source, expected in rows
            ]

    def states(self, run_id: str) -> dict[str, dict[str, int]]:
        """kind → item state → count."""
        items = self._items
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for kind, state, n in conn.execute(
                select(items.c.kind, items.c.state, func.count())
                .where(items.c.run_id == run_id)
                .group_by(items.c.kind, items.c.state)
            ):
                out.setdefault(kind, {})[state] = int(n)
        return out
