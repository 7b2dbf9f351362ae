"""reconcile: link the people of this run to identities kept across runs.

This first version keys an identity by the person's source id and records it as an alias of the
configured source (``[source.NAME]``, never a path); a second source id with the INE of an existing
identity joins that identity instead of creating a new one (INE is national and stable). Scored
name + birth-date matching and the review queue come with the reconciliation issue.
"""

from __future__ import annotations

from typing import Any

from ent_migrate.model import RecordKind
from ent_migrate.pipeline.context import PipelineContext

__all__ = ["reconcile"]


def reconcile(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    identities = ctx.state.identities
    counts = {"people": 0, "new_identities": 0, "joined_by_ine": 0}
    for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
        known = identities.aliased(ctx.source_name, [key for _, key, _ in rows])
        by_ine = identities.by_ine(p["ine"] for _, key, p in rows if p.get("ine") and key not in known)
        fresh: list[tuple[str, str, str | None]] = []
        joined: dict[str, int] = {}
        for _, key, payload in rows:
            counts["people"] += 1
            if key in known:
                continue
            ine = payload.get("ine")
            if ine and ine in by_ine:
                joined[key] = by_ine[ine]
                counts["joined_by_ine"] += 1
            else:
                fresh.append((key, payload["profile"], ine))
        identities.add(ctx.source_name, fresh, joined)
        counts["new_identities"] += len(fresh)
    return counts
