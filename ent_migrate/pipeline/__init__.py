"""The staged pipeline: extract → reconcile → map → plan → apply → verify.

One module per stage; the per-item state machine and the stage checkpoints live in the state store
(see ``runner``). ``plan`` is the dry-run and never writes to the target; ``apply`` is idempotent
and resumable; ``verify`` marks every item ``= + - * !``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from ent_migrate.pipeline._db import table
from ent_migrate.pipeline.apply import ApplyResult, RetryPolicy, apply
from ent_migrate.pipeline.context import PipelineContext, Safety
from ent_migrate.pipeline.extract import extract
from ent_migrate.pipeline.map import map_records
from ent_migrate.pipeline.plan import plan
from ent_migrate.pipeline.reconcile import reconcile
from ent_migrate.pipeline.reports import write_run_report
from ent_migrate.pipeline.runner import (
    STAGES,
    RunStatus,
    finish_run,
    open_run,
    reset_from,
    run_stage,
    stage_done,
    status,
)
from ent_migrate.pipeline.verify import verify

__all__ = [
    "STAGES",
    "ApplyResult",
    "PipelineContext",
    "RetryPolicy",
    "Safety",
    "do_apply",
    "do_extract",
    "do_plan",
    "do_run",
    "do_verify",
    "status",
]


def do_extract(ctx: PipelineContext, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """extract + reconcile + map (the stages before plan)."""
    if force:
        reset_from(ctx, run_id, "extract")
        if not _apply_started(ctx, run_id):
            # A fresh read replaces the last one whole: a record gone from the source must not linger.
            _forget_items(ctx, run_id)
    out = run_stage(ctx, run_id, "extract", lambda: extract(ctx, run_id))
    run_stage(ctx, run_id, "reconcile", lambda: reconcile(ctx, run_id))
    run_stage(ctx, run_id, "map", lambda: map_records(ctx, run_id))
    return out


def _report(ctx: PipelineContext, run_id: str, kind: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
    written = write_run_report(
        ctx.engine, run_id, kind, ctx.report_dir / run_id, ctx.pseudonymize,
        problems=problems, thresholds={k: v for k, v in vars(ctx.safety).items() if v is not None},
        csv_delimiter=ctx.csv_delimiter,
    )
    return {"dir": str(ctx.report_dir / run_id), "digest": written.digest, "files": [p.name for p in written.paths]}


def do_plan(ctx: PipelineContext, run_id: str, *, refresh: bool = False) -> dict[str, Any]:
    """Plan (extracting first if needed). ``refresh`` re-reads the source unless apply has begun."""
    extracted = do_extract(ctx, run_id, force=refresh and not _apply_started(ctx, run_id))
    counts = run_stage(ctx, run_id, "plan", lambda: plan(ctx, run_id), force=True)
    reset_from(ctx, run_id, "apply")
    report = _report(ctx, run_id, "plan", list(extracted.get("problems", [])))
    return {"run_id": run_id, "actions": counts, "problems": extracted.get("problems", []), "report": report}


def _forget_items(ctx: PipelineContext, run_id: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(delete(table("content_ledger")).where(table("content_ledger").c.run_id == run_id))
        conn.execute(delete(table("items")).where(table("items").c.run_id == run_id))


def _apply_started(ctx: PipelineContext, run_id: str) -> bool:
    journal = table("journal")
    with ctx.engine.connect() as conn:
        return conn.execute(select(journal.c.op_id).where(journal.c.run_id == run_id).limit(1)).first() is not None


def do_apply(ctx: PipelineContext, run_id: str, *, max_ops: int | None = None) -> dict[str, Any]:
    if not stage_done(ctx, run_id, "plan"):
        do_plan(ctx, run_id)
    result = apply(ctx, run_id, max_ops=max_ops)
    if result.pending == 0 and not result.stopped_early:
        run_stage(ctx, run_id, "apply", result.as_dict, force=True)
    return {"run_id": run_id, **result.as_dict()}


def do_verify(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    out = run_stage(ctx, run_id, "verify", lambda: verify(ctx, run_id), force=True)
    report = _report(ctx, run_id, "verify", [])
    return {"run_id": run_id, "marks": out["marks"], "report": report}


def do_run(ctx: PipelineContext, *, max_ops: int | None = None) -> dict[str, Any]:
    """Every stage; a re-run first finishes the pending work of an unfinished run."""
    run_id = open_run(ctx)
    planned = None
    if not _apply_started(ctx, run_id):
        # Nothing sent yet: plan from a fresh read (an earlier dry-run may be stale).
        planned = do_plan(ctx, run_id, refresh=True)
    applied = do_apply(ctx, run_id, max_ops=max_ops)
    out: dict[str, Any] = {"run_id": run_id, "plan": planned, "apply": applied}
    if applied["pending"] or applied["stopped_early"]:
        return out
    verified = do_verify(ctx, run_id)
    out["verify"] = verified
    finish_run(ctx, run_id, RunStatus.DONE)
    return out
