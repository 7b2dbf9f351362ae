"""Build the plan and verify reports from the state store, write them, and record their digest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, func, select, update
from sqlalchemy import true as sa_true

from ent_migrate.pipeline._db import now, scan, table
from ent_migrate.pipeline.plan import INVALID
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportData, ReportItem, WrittenReport, write_reports

__all__ = ["write_run_report"]


def _where(payload: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not payload:
        return None, None
    if payload.get("kind") == "person":
        structures = payload.get("structures") or []
        return (structures[0] if structures else None), payload.get("profile")
    return payload.get("uai"), None


def _items(engine: Engine, run_id: str, kind: str) -> Iterator[ReportItem]:
    items = table("items")
    # Decode one JSON document per item, not two: the expected record, else the source's.
    payload = func.coalesce(items.c.target_payload, items.c.payload, type_=JSON).label("any_payload")
    query = select(
        items.c.id, items.c.kind, items.c.key, items.c.action, items.c.reason, items.c.mark, items.c.mark_reason,
        payload,
    ).where(items.c.run_id == run_id)
    for rows in scan(engine, query, items.c.id):
        for row in rows:
            uai, profile = _where(row.any_payload)
            if kind == "plan":
                reason = row.reason or ""
                status = "invalid" if reason.startswith(INVALID) else (row.action or "skip")
            elif row.mark is None:
                continue  # deleted as planned: nothing left to compare
            else:
                status, reason = row.mark, row.mark_reason or ""
            yield ReportItem(kind=row.kind, key=row.key, status=status, reason=reason, uai=uai, profile=profile)


def _by_school(engine: Engine, run_id: str) -> dict[str, dict[str, int]]:
    """People per school and profile, from the expected records (one short pass, counts only)."""
    items = table("items")
    out: dict[str, dict[str, int]] = {}
    query = select(items.c.id, items.c.target_payload).where(
        items.c.run_id == run_id, items.c.kind == "person", items.c.target_payload.is_not(None)
    )
    for rows in scan(engine, query, items.c.id):
        for row in rows:
            uai, profile = _where(row.target_payload)
            bucket = out.setdefault(uai or "?", {})
            bucket[profile or "?"] = bucket.get(profile or "?", 0) + 1
    return dict(sorted(out.items()))


def write_run_report(
    engine: Engine,
    run_id: str,
    kind: str,
    out_dir: Path,
    pseudonymize: Pseudonymizer,
    *,
    problems: list[dict[str, Any]] | None = None,
    thresholds: dict[str, Any] | None = None,
    csv_delimiter: str = ",",
) -> WrittenReport:
    items, runs, reports = table("items"), table("runs"), table("reports")
    status_col = items.c.action if kind == "plan" else items.c.mark
    counts: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        for item_kind, status, n in conn.execute(
            select(items.c.kind, status_col, func.count())
            .where(items.c.run_id == run_id, items.c.mark.is_not(None) if kind == "verify" else sa_true())
            .group_by(items.c.kind, status_col)
        ):
            label = status or ("skip" if kind == "plan" else "!")
            counts[label] = counts.get(label, 0) + int(n)
            by_kind.setdefault(item_kind, {})[label] = by_kind.get(item_kind, {}).get(label, 0) + int(n)
        if kind == "plan":
            invalid = conn.execute(
                select(func.count()).where(items.c.run_id == run_id, items.c.reason.like(INVALID + "%"))
            ).scalar() or 0
            if invalid:
                counts["invalid"] = int(invalid)
                counts["skip"] = counts.get("skip", 0) - int(invalid)
    if kind == "verify":
        for mark in ("=", "+", "-", "*", "!"):
            counts.setdefault(mark, 0)
    data = ReportData(
        kind=kind,
        run_id=run_id,
        created_at=now().replace(microsecond=0).isoformat(),
        source=run.source,
        target=run.target,
        counts=counts,
        counts_by_kind=by_kind,
        counts_by_school=_by_school(engine, run_id),
        items=_items(engine, run_id, kind),
        problems=problems or [],
        thresholds=thresholds or {},
    )
    written = write_reports(data, out_dir, pseudonymize, csv_delimiter=csv_delimiter)
    with engine.begin() as conn:
        conn.execute(
            reports.insert().values(
                run_id=run_id, kind=kind, created_at=now(), path=str(out_dir), digest=written.digest,
                summary={"counts": counts},
            )
        )
        conn.execute(update(runs).where(runs.c.id == run_id).values(report_digest=written.digest, updated_at=now()))
    return written
