"""extract: stream canonical records out of the source into the state store, with a fingerprint each.

Rows are upserted in batches, so an interrupted extract re-run simply overwrites what it had written;
nothing is held whole in memory. Blob-carrying records (messages, documents, productions) also get a
source-side row in the content ledger.
"""

from __future__ import annotations

from typing import Any

from ent_migrate.model import Document, Message, Production, Record
from ent_migrate.pipeline._db import BATCH, now, table, upsert
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.map import payload_fingerprint
from ent_migrate.pipeline.runner import ItemState

__all__ = ["extract"]

_BLOB_TYPES = (Message, Document, Production)


def extract(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items, ledger = table("items"), table("content_ledger")
    counts: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    blobs: list[dict[str, Any]] = []

    def flush() -> None:
        with ctx.engine.begin() as conn:
            upsert(
                conn,
                items,
                batch,
                ["run_id", "kind", "key"],
                ["state", "source_fingerprint", "payload", "updated_at"],
            )
            upsert(conn, ledger, blobs, ["run_id", "kind", "key", "side"], ["sha256", "size"])
        batch.clear()
        blobs.clear()

    with ctx.progress("extract", None) as advance:
        for capability in ctx.capabilities:
            for record in ctx.source.read(capability):
                batch.append(_row(run_id, record))
                if isinstance(record, _BLOB_TYPES):
                    blobs.append(
                        {"run_id": run_id, "kind": str(record.kind), "key": record.key, "side": "source",
                         "sha256": record.sha256, "size": record.size, "created_at": now()}
                    )
                counts[str(record.kind)] = counts.get(str(record.kind), 0) + 1
                if len(batch) >= BATCH:
                    flush()
                advance(1)
    flush()
    problems = ctx.source.problems.to_list()
    return {"records": counts, "problems": problems}


def _row(run_id: str, record: Record) -> dict[str, Any]:
    payload = record.to_dict()
    return {
        "run_id": run_id,
        "kind": str(record.kind),
        "key": record.key,
        "state": ItemState.EXTRACTED,
        "source_fingerprint": payload_fingerprint(payload),
        "payload": payload,
        "attempts": 0,
        "updated_at": now(),
    }
