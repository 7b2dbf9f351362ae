"""Orchestration: which run a command works on, the stages in order, checkpoints and resuming.

A run is one migration from a configured source to a configured target. Re-running a command finds
the unfinished run and finishes its pending work first; once a run is done (verified), the next
command starts a new run. Each stage records a checkpoint (pending → running → done) with its counts.

The rules a project lead relies on:

- ``plan`` is a new revision each time, with its own report folder; error-level input problems over
  ``[safety] max_input_errors`` and a source without any person stop it (exit 1) after its report is
  written, as does a safety threshold (the report then lists what would be deleted or disabled).
- ``apply`` executes only a plan whose report was written, and records which one (its digest); only a
  completed apply finishes the target (commit, pack).
- ``verify`` certifies nothing when the source could not be read whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ent_migrate.audit.state import latest_audit
from ent_migrate.errors import InputError, ThresholdExceededError
from ent_migrate.model import Profile
from ent_migrate.outcomes import ACCESS_REMOVING_ACTIONS, RunStatus, Stage, StageStatus
from ent_migrate.pipeline.apply import apply
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.extract import extract
from ent_migrate.pipeline.map import map_records
from ent_migrate.pipeline.plan import plan
from ent_migrate.pipeline.reconcile import reconcile
from ent_migrate.pipeline.reports import write_run_report
from ent_migrate.pipeline.reviewed import plan_inputs, resumed_plan, reviewed_plan
from ent_migrate.pipeline.verify import verify
from ent_migrate.problems import Occurrence, Severity
from ent_migrate.state import StateStore

__all__ = ["do_apply", "do_extract", "do_plan", "do_run", "do_verify", "open_run", "run_stage", "status"]


def open_run(ctx: PipelineContext) -> str:
    """Resume the unfinished run from this source to this target, or start a new one."""
    return ctx.state.runs.open(
        source_name=ctx.source_name,
        target_name=ctx.target_name,
        source_spec=ctx.source_spec,
        target_spec=ctx.target_spec,
        config_digest=ctx.config_digest,
    )


def run_stage(
    ctx: PipelineContext, run_id: str, stage: Stage, body: Callable[[], Mapping[str, Any]], *, force: bool = False
) -> dict[str, Any]:
    """Run one stage unless its checkpoint says done; record running, then done with its counts."""
    runs = ctx.state.runs
    if not force and runs.stage_done(run_id, stage):
        return runs.stage_counts(run_id, stage)
    runs.set_stage(run_id, stage, StageStatus.RUNNING, None)
    counts = dict(body())
    runs.set_stage(run_id, stage, StageStatus.DONE, counts)
    return counts


def do_extract(ctx: PipelineContext, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """extract + reconcile + map (the stages before plan)."""
    if force:
        ctx.state.runs.reset_from(run_id, Stage.EXTRACT)
        if not ctx.state.journal.started(run_id):
            # A fresh read replaces the last one whole: a record gone from the source must not linger.
            ctx.state.items.forget(run_id)
    out = run_stage(ctx, run_id, Stage.EXTRACT, lambda: _extract(ctx, run_id))
    run_stage(ctx, run_id, Stage.RECONCILE, lambda: reconcile(ctx, run_id))
    run_stage(ctx, run_id, Stage.MAP, lambda: map_records(ctx, run_id))
    return out


def _extract(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    counts = extract(ctx, run_id)
    carries_people = any(c == "accounts" for c in ctx.capabilities)  # a mail-only run (imap → imap) has none
    if not counts.get("people") and not ctx.source_is_partial and carries_people:
        # No person at all is never "no problems": a wrong folder, or a file of another kind.
        where = ctx.source_name
        ctx.state.problems.add(run_id, [Occurrence("source.empty", Severity.ERROR, where, None)])
        counts["problems"] = [
            *counts.get("problems", []),
            {"code": "source.empty", "severity": "error", "count": 1, "examples": [where]},
        ]
    return counts


def _plan_report(ctx: PipelineContext, run_id: str, problems: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    written, folder = write_run_report(
        ctx.state,
        run_id,
        "plan",
        ctx.report_dir,
        ctx.pseudonymize,
        safety=ctx.safety,
        problems=problems,
        csv_delimiter=ctx.settings.csv_delimiter,
        weights=ctx.mapping.weights,
        inputs=plan_inputs(ctx),
        **kw,
    )
    return {"dir": str(folder), "digest": written.digest, "files": [p.name for p in written.paths]}


def _input_errors(ctx: PipelineContext, run_id: str) -> tuple[int, int]:
    """(error-level input problems, how many [safety] max_input_errors accepts)."""
    errors = ctx.state.problems.errors(run_id)
    limit = ctx.safety.max_input_errors
    return errors, (errors if limit == -1 else limit)


def do_plan(ctx: PipelineContext, run_id: str, *, refresh: bool = False) -> dict[str, Any]:
    """Plan (extracting first if needed): a new plan revision with its own report. ``refresh`` re-reads
    the source unless apply has begun."""
    extracted = do_extract(ctx, run_id, force=refresh and not ctx.state.journal.started(run_id))
    problems = list(extracted.get("problems", []))
    revision = ctx.state.runs.next_plan_revision(run_id)
    ctx.state.runs.reset_from(run_id, Stage.PLAN)
    try:
        counts = run_stage(ctx, run_id, Stage.PLAN, lambda: plan(ctx, run_id), force=True)
    except ThresholdExceededError as exc:
        # The refusal must be actionable: the report lists what would have been deleted or disabled.
        report = _plan_report(ctx, run_id, problems, verdict="refused", refusal=str(exc), revision=revision)
        exc.report = report
        exc.counts = ctx.state.items.action_counts(run_id)
        exc.listed = [
            {"kind": k, "id": ctx.pseudonymize(key), "action": a}
            for k, key, a, _ in ctx.state.items.listed(run_id, ACCESS_REMOVING_ACTIONS, 20)
        ]
        raise
    errors, accepted = _input_errors(ctx, run_id)
    report = _plan_report(ctx, run_id, problems, revision=revision)
    if not ctx.state.journal.started(run_id):
        ctx.state.runs.set_status(run_id, RunStatus.PLANNED)  # after an interrupted plan, a finished one
    out = {
        "run_id": run_id,
        "revision": revision,
        "actions": counts,
        "problems": problems,
        "report": report,
        "input_errors": errors,
        "accepted_input_errors": min(errors, accepted),
        "identities": _identity_summary(ctx, run_id),
    }
    if errors > accepted:
        ctx.state.runs.reset_from(run_id, Stage.PLAN)  # not applicable: apply will refuse it
        raise PlanInputError(
            f"the source has {errors} input error(s) (records that could not be read), over "
            f"[safety] max_input_errors = {accepted}: fix the source, or accept them knowingly with "
            f"[safety] max_input_errors = {errors}. The plan report lists each one: {report['dir']}",
            out,
        )
    return out


def _identity_summary(ctx: PipelineContext, run_id: str) -> dict[str, int]:
    """What reconcile and map decided about people, for the plan's summary line: how many joined an
    identity already known, founded one, landed on an account the target or an earlier run holds, and
    how many wait in the review queue (of every source: a reviewer's list)."""
    reconciled = ctx.state.runs.stage_counts(run_id, Stage.RECONCILE)
    mapped = ctx.state.runs.stage_counts(run_id, Stage.MAP)
    joined = sum(int(reconciled.get(k, 0)) for k in ("joined_by_ine", "joined_by_match", "joined_through_children"))
    people, new = int(reconciled.get("people", 0)), int(reconciled.get("new_identities", 0))
    return {
        "people": people,
        "known": max(people - new - joined, 0),  # an identity from an earlier run (a re-run, a delta)
        "new": new,
        "joined": joined,
        "folded": int(mapped.get("people_folded", 0)),
        "on_existing_accounts": int(mapped.get("accounts_already_held", 0)),
        "review_queue": ctx.state.review.pending_count(),
    }


class PlanInputError(InputError):
    """plan met more input errors than accepted; ``result`` is the plan's summary (report written)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def do_apply(
    ctx: PipelineContext,
    run_id: str,
    *,
    max_ops: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    reviewed: str | None = None,
) -> dict[str, Any]:
    """Apply the run's reviewed plan (:mod:`ent_migrate.pipeline.reviewed`); *reviewed* is the digest
    (or its first characters) of the plan report the lead read, when they name it."""
    runs = ctx.state.runs
    applied = runs.get(run_id).applied_plan_digest
    if not ctx.state.journal.started(run_id) or applied is None:
        runs.set_applied_plan(run_id, reviewed_plan(ctx, run_id, reviewed))
    else:
        resumed_plan(ctx, run_id, applied, reviewed)
    window = ctx.settings.window
    if should_stop is None and window is not None:
        # Outside school hours only: apply stops cleanly at the window's end, the next run resumes.
        def should_stop() -> bool:
            return not window.contains(dt.datetime.now())

    runs.set_status(run_id, RunStatus.RUNNING)
    result = apply(ctx, run_id, max_ops=max_ops, should_stop=should_stop)
    if result.pending == 0 and not result.stopped_early:
        # Only a completed apply finishes the target (commit, pack): an interrupted one stays resumable.
        ctx.target.finish()
        run_stage(ctx, run_id, Stage.APPLY, result.as_dict, force=True)
    else:
        runs.set_status(run_id, RunStatus.INTERRUPTED)
    out = {"run_id": run_id, "plan_digest": runs.get(run_id).applied_plan_digest, **result.as_dict()}
    if window is not None and result.stopped_early and not window.contains(dt.datetime.now()):
        out["outside_window"] = int(window.seconds_until_start(dt.datetime.now()))
    return out


def do_verify(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    out = run_stage(ctx, run_id, Stage.VERIFY, lambda: verify(ctx, run_id), force=True)
    written, folder = write_run_report(
        ctx.state,
        run_id,
        "verify",
        ctx.report_dir,
        ctx.pseudonymize,
        safety=ctx.safety,
        csv_delimiter=ctx.settings.csv_delimiter,
        verdict=out["verdict"],
    )
    report = {"dir": str(folder), "digest": written.digest, "files": [p.name for p in written.paths]}
    return {
        "run_id": run_id,
        "marks": out["marks"],
        "verdict": out["verdict"],
        "input_errors": out.get("input_errors", 0),
        "report": report,
    }


def do_run(
    ctx: PipelineContext,
    *,
    max_ops: int | None = None,
    confirm: Callable[[dict[str, Any]], bool] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Every stage; a re-run first finishes the pending work of an unfinished run. *confirm* sees the
    fresh plan before anything is written and may refuse it."""
    run_id = open_run(ctx)
    planned = None
    if not ctx.state.journal.started(run_id):
        # Nothing sent yet: plan from a fresh read (an earlier dry-run may be stale).
        planned = do_plan(ctx, run_id, refresh=True)
        if confirm is not None and not confirm(planned):
            return {"run_id": run_id, "plan": planned, "apply": None, "confirmed": False}
    applied = do_apply(ctx, run_id, max_ops=max_ops, should_stop=should_stop)
    out: dict[str, Any] = {"run_id": run_id, "plan": planned, "apply": applied}
    if applied["pending"] or applied["stopped_early"]:
        return out
    verified = do_verify(ctx, run_id)
    out["verify"] = verified
    ctx.state.runs.set_status(run_id, RunStatus.DONE)
    return out


def status(state: StateStore, run_id: str) -> dict[str, Any]:
    """Per-stage checkpoints, per-item states and what is pending, for ``ent-migrate status``."""
    run = state.runs.get(run_id)
    problems = state.problems.counts(run_id)
    return {
        "run_id": run_id,
        "source": run.source,
        "target": run.target,
        "source_name": run.source_name,
        "target_name": run.target_name,
        "status": str(run.status),
        "verdict": run.verdict,
        "plan_revision": run.plan_revision,
        "applied_plan_digest": run.applied_plan_digest,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "stages": state.runs.stages(run_id),
        "items": state.items.states(run_id),
        "operations": state.journal.counts(run_id),
        "pending_operations": state.items.pending_writes(run_id),
        "input_problems": {f"{code} ({severity})": n for (code, severity), n in sorted(problems.items())},
        # every profile, zeros included, so a reader of --json need not guess the keys
        "identities": {str(p): 0 for p in Profile} | state.identities.counts_by_profile(),
        "review_queue": state.review.pending_count(),
        "audit": _latest_audit(state),
    }


def _latest_audit(state: StateStore) -> dict[str, Any] | None:
    """The latest reversibility audit and its R19 destruction deadline (ent_migrate/audit/state.py)."""
    return latest_audit(state.engine)
