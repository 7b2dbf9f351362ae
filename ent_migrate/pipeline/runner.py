"""Runs and stages: which run a command works on, which stages are done, and resuming.

A run is one migration from a source to a target. Re-running a command on the same source and target
finds the unfinished run and finishes its pending work first; once a run is done (verified), the next
command starts a new run. Each stage records a checkpoint (pending → running → done) with its counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select, update

from ent_migrate.pipeline._db import now, table, upsert
from ent_migrate.pipeline.context import PipelineContext

__all__ = [
    "STAGES",
    "ItemState",
    "RunStatus",
    "current_run",
    "finish_run",
    "open_run",
    "run_stage",
    "stage_counts",
    "stage_done",
    "status",
]

STAGES = ("extract", "reconcile", "map", "plan", "apply", "verify")


class ItemState:
    """The per-item state machine: extracted → mapped → planned → applied | failed → verified."""

    EXTRACTED = "extracted"
    MAPPED = "mapped"
    PLANNED = "planned"
    APPLIED = "applied"
    FAILED = "failed"
    VERIFIED = "verified"


class RunStatus:
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def current_run(ctx: PipelineContext, *, new_if_done: bool = True) -> str | None:
    """The unfinished run for this source and target, if any; else (if allowed) None."""
    runs = table("runs")
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(runs.c.id, runs.c.status)
            .where(runs.c.source == ctx.source_spec, runs.c.target == ctx.target_spec)
            .order_by(runs.c.created_at.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    if row.status == RunStatus.DONE and new_if_done:
        return None
    return str(row.id)


def open_run(ctx: PipelineContext) -> str:
    """Resume the unfinished run for this source and target, or start a new one."""
    run_id = current_run(ctx)
    runs = table("runs")
    checkpoints = table("stage_checkpoints")
    if run_id is not None:
        with ctx.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(status=RunStatus.RUNNING, updated_at=now())
            )
        return run_id
    run_id = str(uuid.uuid4())
    with ctx.engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                id=run_id,
                created_at=now(),
                updated_at=now(),
                source=ctx.source_spec,
                target=ctx.target_spec,
                status=RunStatus.RUNNING,
                config_digest=ctx.config_digest,
            )
        )
        conn.execute(
            checkpoints.insert(),
            [{"run_id": run_id, "stage": s, "status": "pending", "counts": {}, "updated_at": now()} for s in STAGES],
        )
    return run_id


def stage_done(ctx: PipelineContext, run_id: str, stage: str) -> bool:
    checkpoints = table("stage_checkpoints")
    with ctx.engine.connect() as conn:
        value = conn.execute(
            select(checkpoints.c.status).where(checkpoints.c.run_id == run_id, checkpoints.c.stage == stage)
        ).scalar()
    return value == "done"


def stage_counts(ctx: PipelineContext, run_id: str, stage: str) -> dict[str, Any]:
    checkpoints = table("stage_checkpoints")
    with ctx.engine.connect() as conn:
        value = conn.execute(
            select(checkpoints.c.counts).where(checkpoints.c.run_id == run_id, checkpoints.c.stage == stage)
        ).scalar()
    return dict(value or {})


def _set_stage(ctx: PipelineContext, run_id: str, stage: str, status_: str, counts: Mapping[str, Any] | None) -> None:
    checkpoints = table("stage_checkpoints")
    row: dict[str, Any] = {"run_id": run_id, "stage": stage, "status": status_, "updated_at": now()}
    row["counts"] = dict(counts) if counts is not None else {}
    with ctx.engine.begin() as conn:
        upsert(conn, checkpoints, [row], ["run_id", "stage"], ["status", "updated_at", "counts"])


def reset_from(ctx: PipelineContext, run_id: str, stage: str) -> None:
    """Mark *stage* and every later stage pending again (their inputs changed)."""
    checkpoints = table("stage_checkpoints")
    later = STAGES[STAGES.index(stage):]
    with ctx.engine.begin() as conn:
        conn.execute(
            update(checkpoints)
            .where(checkpoints.c.run_id == run_id, checkpoints.c.stage.in_(later))
            .values(status="pending", updated_at=now())
        )


def run_stage(
    ctx: PipelineContext, run_id: str, stage: str, body: Callable[[], Mapping[str, Any]], *, force: bool = False
) -> dict[str, Any]:
    """Run one stage unless its checkpoint says done; record running, then done with its counts."""
    if not force and stage_done(ctx, run_id, stage):
        return stage_counts(ctx, run_id, stage)
    _set_stage(ctx, run_id, stage, "running", None)
    counts = dict(body())
    _set_stage(ctx, run_id, stage, "done", counts)
    return counts


def finish_run(ctx: PipelineContext, run_id: str, status_: str = RunStatus.DONE) -> None:
    runs = table("runs")
    with ctx.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(status=status_, updated_at=now()))


def status(engine: Any, run_id: str) -> dict[str, Any]:
    """Per-stage checkpoints, per-item states and what is pending, for ``ent-migrate status``."""
    runs, checkpoints, items, journal = table("runs"), table("stage_checkpoints"), table("items"), table("journal")
    with engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        stages = {
            r.stage: {"status": r.status, "counts": r.counts or {}}
            for r in conn.execute(select(checkpoints).where(checkpoints.c.run_id == run_id))
        }
        states: dict[str, dict[str, int]] = {}
        for kind, state, n in conn.execute(
            select(items.c.kind, items.c.state, func.count())
            .where(items.c.run_id == run_id)
            .group_by(items.c.kind, items.c.state)
        ):
            states.setdefault(kind, {})[state] = n
        ops = dict(
            conn.execute(
                select(journal.c.status, func.count()).where(journal.c.run_id == run_id).group_by(journal.c.status)
            ).all()
        )
        pending = conn.execute(
            select(func.count()).where(
                items.c.run_id == run_id,
                items.c.state == ItemState.PLANNED,
                items.c.action.in_(("create", "update", "disable", "delete", "move")),
            )
        ).scalar()
    return {
        "run_id": run_id,
        "source": run.source,
        "target": run.target,
        "status": run.status,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "stages": {s: stages.get(s, {"status": "pending", "counts": {}}) for s in STAGES},
        "items": states,
        "operations": {k: int(v) for k, v in ops.items()},
        "pending_operations": int(pending or 0),
    }
