"""verify — read the target back and give every item a mark, as ``rclone check --combined`` does.

``=`` same · ``+`` missing on the target · ``-`` only on the target · ``*`` differs · ``!`` error.
Accounts, each relation edge, each message and document are compared by fingerprint with the
expected record; blobs are checked by SHA-256 too (the target's own hash when it has the blob-hash
capability, else by reading the bytes back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_, update

from ent_migrate.contract import Action, Capability
from ent_migrate.errors import ConnectorError
from ent_migrate.model import Document, Message, Production, Record
from ent_migrate.pipeline._db import now, table, upsert
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.map import payload_fingerprint
from ent_migrate.pipeline.runner import ItemState

__all__ = ["MARKS", "verify"]

MARKS = ("=", "+", "-", "*", "!")


def verify(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items = table("items")
    with ctx.engine.begin() as conn:
        conn.execute(update(items).where(items.c.run_id == run_id).values(mark=None, mark_reason=None))
    if Capability.READ_BACK not in ctx.target.capabilities:
        raise ConnectorError(f"{ctx.target_spec}: the {ctx.target.name} connector cannot read back; nothing to verify")
    for batch in ctx.read_target_batches("verify"):
        _mark_batch(ctx, run_id, batch)
    with ctx.engine.begin() as conn:
        # Expected but never seen on the target: missing, or an error if apply failed on it.
        conn.execute(
            update(items)
            .where(items.c.run_id == run_id, items.c.mark.is_(None), items.c.target_payload.is_not(None),
                   items.c.state == ItemState.FAILED)
            .values(mark="!", mark_reason=items.c.error)
        )
        conn.execute(
            update(items)
            .where(items.c.run_id == run_id, items.c.mark.is_(None), items.c.target_payload.is_not(None))
            .values(mark="+", mark_reason="missing on the target")
        )
        conn.execute(
            update(items)
            .where(items.c.run_id == run_id, items.c.mark == "=", items.c.state != ItemState.FAILED)
            .values(state=ItemState.VERIFIED, updated_at=now())
        )
        marks = {m: 0 for m in MARKS}
        for mark, n in conn.execute(
            select(items.c.mark, func.count()).where(items.c.run_id == run_id, items.c.mark.is_not(None))
            .group_by(items.c.mark)
        ):
            marks[mark] = int(n)
    return {"marks": marks}


def _blob_check(ctx: PipelineContext, record: Record) -> str | None:
    """None when the target's bytes hash to the record's SHA-256, else why not."""
    if not isinstance(record, Message | Document | Production) or ctx.verify_blobs == "none":
        return None
    try:
        if ctx.verify_blobs == "hash" and Capability.BLOB_HASH in ctx.target.capabilities:
            actual = ctx.target.blob_sha256(record)
        else:
            digest = hashlib.sha256()
            with ctx.target.open_blob(record) as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            actual = digest.hexdigest()
    except ConnectorError as exc:
        return f"blob unreadable: {type(exc).__name__}"
    return None if actual == record.sha256 else "blob sha256 differs"


def _mark_batch(ctx: PipelineContext, run_id: str, records: Iterable[Record]) -> None:
    records = list(records)
    if not records:
        return
    items, ledger = table("items"), table("content_ledger")
    with ctx.engine.begin() as conn:
        found = {
            (row.kind, row.key): row
            for row in conn.execute(
                select(items.c.id, items.c.kind, items.c.key, items.c.target_fingerprint, items.c.action)
                .where(items.c.run_id == run_id, tuple_(items.c.kind, items.c.key).in_(
                    [(str(r.kind), r.key) for r in records]))
            )
        }
        marks: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        blobs: list[dict[str, Any]] = []
        for record in records:
            kind = str(record.kind)
            row = found.get((kind, record.key))
            if isinstance(record, Message | Document | Production):
                blobs.append({"run_id": run_id, "kind": kind, "key": record.key, "side": "target",
                              "sha256": record.sha256, "size": record.size, "created_at": now()})
            if row is None:
                extra.append({"run_id": run_id, "kind": kind, "key": record.key, "state": ItemState.PLANNED,
                              "payload": None, "target_payload": None, "action": Action.SKIP, "attempts": 0,
                              "reason": "only on the target (appeared after plan)", "mark": "-",
                              "mark_reason": "only on the target", "updated_at": now()})
                continue
            if row.target_fingerprint is None:
                why = "should have been deleted" if row.action == Action.DELETE else "only on the target"
                marks.append({"item_id": row.id, "b_mark": "-", "b_reason": why})
            elif payload_fingerprint(record.to_dict()) != row.target_fingerprint:
                marks.append({"item_id": row.id, "b_mark": "*", "b_reason": "fingerprint differs"})
            else:
                problem = _blob_check(ctx, record)
                marks.append({"item_id": row.id, "b_mark": "*" if problem else "=", "b_reason": problem or "same"})
        if marks:
            conn.execute(
                update(items).where(items.c.id == bindparam("item_id"))
                .values(mark=bindparam("b_mark"), mark_reason=bindparam("b_reason")),
                marks,
            )
        if extra:
            conn.execute(items.insert(), extra)
        upsert(conn, ledger, blobs, ["run_id", "kind", "key", "side"], ["sha256", "size"])
