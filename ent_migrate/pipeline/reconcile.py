"""reconcile: link the people of this run to identities kept across runs.

This first version keys an identity by the person's source id and records the source's id as an
alias; a second source id with the INE of an existing identity joins that identity instead of
creating a new one (INE is national and stable). Scored name + birth-date matching and the review
queue come with the reconciliation issue.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ent_migrate.pipeline._db import now, scan, table, upsert
from ent_migrate.pipeline.context import PipelineContext

__all__ = ["reconcile"]


def reconcile(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items, identities, aliases = table("items"), table("identities"), table("identity_aliases")
    counts = {"people": 0, "new_identities": 0, "joined_by_ine": 0}
    query = select(items.c.id, items.c.key, items.c.payload).where(
        items.c.run_id == run_id, items.c.kind == "person", items.c.payload.is_not(None)
    )
    for rows in scan(ctx.engine, query, items.c.id):
        with ctx.engine.begin() as conn:
            known = {
                r.source_id: r.identity_id
                for r in conn.execute(
                    select(aliases.c.source_id, aliases.c.identity_id).where(
                        aliases.c.source == ctx.source_spec, aliases.c.source_id.in_([r.key for r in rows])
                    )
                )
            }
            ines = [r.payload.get("ine") for r in rows if r.payload.get("ine") and r.key not in known]
            by_ine = {
                r.ine: r.id
                for r in conn.execute(select(identities.c.ine, identities.c.id).where(identities.c.ine.in_(ines)))
            }
            fresh: list[dict[str, Any]] = []
            joined: dict[str, int] = {}
            for row in rows:
                counts["people"] += 1
                if row.key in known:
                    continue
                ine = row.payload.get("ine")
                if ine and ine in by_ine:
                    joined[row.key] = by_ine[ine]
                    counts["joined_by_ine"] += 1
                else:
                    fresh.append({"canonical_id": row.key, "profile": row.payload["profile"], "ine": ine,
                                  "created_at": now()})
            upsert(conn, identities, fresh, ["canonical_id"], [])
            counts["new_identities"] += len(fresh)
            new_ids = [f["canonical_id"] for f in fresh]
            ids = dict(
                conn.execute(
                    select(identities.c.canonical_id, identities.c.id).where(identities.c.canonical_id.in_(new_ids))
                ).all()
            ) if new_ids else {}
            ids.update(joined)
            upsert(
                conn,
                aliases,
                [{"identity_id": ident, "source": ctx.source_spec, "source_id": key} for key, ident in ids.items()],
                ["source", "source_id"],
                [],
            )
    return counts
