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
        items.c.run_id == run_id, items.c.kind == "person"
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
            for row in rows:
                counts["people"] += 1
                if row.key in known:
                    continue
                ine = row.payload.get("ine")
                identity_id = by_ine.get(ine) if ine else None
                if identity_id is None:
                    upsert(
                        conn,
                        identities,
                        [{"canonical_id": row.key, "profile": row.payload["profile"], "ine": ine, "created_at": now()}],
                        ["canonical_id"],
                        [],
                    )
                    identity_id = conn.execute(
                        select(identities.c.id).where(identities.c.canonical_id == row.key)
                    ).scalar_one()
                    counts["new_identities"] += 1
                else:
                    counts["joined_by_ine"] += 1
                upsert(
                    conn,
                    aliases,
                    [{"identity_id": identity_id, "source": ctx.source_spec, "source_id": row.key}],
                    ["source", "source_id"],
                    [],
                )
    return counts
