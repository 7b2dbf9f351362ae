"""``ent-migrate run | extract | plan | apply | verify | status | report``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy.exc
import typer
from rich.table import Table

from ent_migrate.audit.state import latest_audit
from ent_migrate.cli._common import (
    EXIT_DIFFERENCES,
    EXIT_OK,
    ConfigOpt,
    Interrupted,
    console,
    emit,
    err_console,
    open_state,
    progress,
    settings,
)
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError, ThresholdExceededError
from ent_migrate.outcomes import Action, RunStatus, Stage, Verdict
from ent_migrate.pipeline import (
    PipelineContext,
    PlanInputError,
    Safety,
    do_apply,
    do_extract,
    do_plan,
    do_run,
    do_verify,
    open_run,
    status,
)
from ent_migrate.pipeline.context import mapping_from_config, pseudonymizer_from_config, report_dir_from_config
from ent_migrate.pipeline.reports import write_run_report
from ent_migrate.state import StateStore

__all__: list[str] = []

JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output.")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Which \\[source.NAME] of the config.")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Which \\[target.NAME] of the config.")]
MaxOpsOpt = Annotated[
    int | None, typer.Option("--max-ops", min=1, help="Stop cleanly after N operations (staged switchover).")
]
MaxDel = Annotated[
    int | None,
    typer.Option("--max-deletions", min=-1, help="Override \\[safety] max_deletions (default 50; -1: no limit)."),
]
MaxDelPct = Annotated[
    float | None,
    typer.Option("--max-deletions-pct", min=-1, help="Override \\[safety] max_deletions_pct (default 1.0)."),
]
MaxUpdPct = Annotated[
    float | None, typer.Option("--max-updates-pct", min=-1, help="Override \\[safety] max_updates_pct (default 30.0).")
]
MaxInErr = Annotated[
    int | None, typer.Option("--max-input-errors", min=-1, help="Override \\[safety] max_input_errors (default 0).")
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", metavar="", help="Apply the fresh plan without asking (needed without a terminal)."),
]


def _safety_overrides(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@contextmanager
def _context(
    command: str, source: str | None, target: str | None, *, safety: dict[str, Any] | None = None, **overrides: Any
) -> Iterator[PipelineContext]:
    if settings.config_path is None:
        raise ConfigError(
            "this command needs a configuration: pass --config FILE "
            "(`make demo` writes an example in demo-out/ent-migrate.toml)"
        )
    engine = open_state()
    try:
        ctx = PipelineContext.from_config(
            engine, settings.config, source=source, target=target, overrides=overrides, safety_overrides=safety
        )
        try:
            for notice in ctx.notices():
                err_console.print(f"[yellow]note[/]: {notice}", highlight=False)
            ctx.progress = progress
            with ctx.state.lock(command):
                yield ctx
        finally:
            ctx.close()
    finally:
        engine.dispose()


def _actions_table(actions: dict[str, Any]) -> None:
    table_ = Table("action", "items", title="Dry-run plan")
    for action in Action:
        table_.add_row(action, str(actions.get(action, 0)))
    console.print(table_)


def _marks_line(marks: dict[str, int]) -> str:
    return "  ".join(f"{m} {marks.get(m, 0)}" for m in ("=", "+", "-", "*", "!"))


def _apply_line(a: dict[str, Any]) -> str:
    line = f"apply: {a['done']} done, {a['already_done']} already done, {a['failed']} failed, {a['pending']} pending"
    if a.get("outside_window") is not None:
        line += (
            f" — outside the [run] window: it opens again in {a['outside_window'] // 60} min; "
            "re-run the same command then"
        )
    return line


def _problems_line(out: dict[str, Any]) -> str | None:
    errors = out.get("input_errors", 0)
    if not errors and not out.get("problems"):
        return None
    kinds = ", ".join(f"{p['code']} ×{p['count']}" for p in out.get("problems", [])[:6])
    return f"input problems: {errors} error(s); {kinds}"


def _verdict_line(verdict: str) -> str:
    return {
        Verdict.COMPLETE: "[green]complete[/]: the target holds everything the source holds, read whole",
        Verdict.DIFFERENCES: "[red]differences[/]: see the marks and the report",
        Verdict.INCOMPLETE_SOURCE: "[red]incomplete source[/]: records that could not be read are not proven",
    }.get(Verdict(verdict), f"[red]{verdict}[/]")


def _refused(exc: ThresholdExceededError, as_json: bool) -> None:
    """A safety stop that can be acted on: the count, the share, a value that passes, the report."""
    out = {
        "refused": {
            "setting": exc.setting,
            "suggested": exc.suggested,
            "message": str(exc),
            "counts": exc.counts,
            "would_remove": exc.listed,
            "report": exc.report,
        }
    }
    if as_json:
        emit(out, True)
    else:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        if exc.report:
            err_console.print(f"the refused plan's report lists them: {exc.report['dir']}", highlight=False)
    raise typer.Exit(exc.exit_code)


def _identities_line(ids: dict[str, int]) -> str:
    line = (
        f"people: {ids['people']} — {ids['known']} known from earlier runs, {ids['joined']} matched, "
        f"{ids['new']} new; "
        f"{ids['folded']} folded onto one account, {ids['on_existing_accounts']} on accounts already held"
    )
    if ids["review_queue"]:
        line += f"; [yellow]{ids['review_queue']} waiting in the review queue[/] (review export)"
    return line


def _plan_render(out: dict[str, Any]) -> None:
    _actions_table(out["actions"])
    if out.get("identities"):
        console.print(_identities_line(out["identities"]), highlight=False)
    line = _problems_line(out)
    if line:
        err_console.print(f"[red]{line}[/]" if out.get("input_errors") else line, highlight=False)
    console.print(f"plan revision {out['revision']}; report: {out['report']['dir']}", highlight=False)
    if int(out.get("input_errors", 0)) <= int(out.get("accepted_input_errors", 0)):
        # What the lead passes to apply once they have read the report: that plan, and no other.
        digest = out["report"]["digest"][:12]
        console.print(f"reviewed? apply it with: ent-migrate apply --plan {digest}", highlight=False)


def _confirm(as_json: bool) -> Any:
    def ask(planned: dict[str, Any]) -> bool:
        if not as_json:
            _plan_render(planned)
        writes = sum(int(planned["actions"].get(a, 0)) for a in ("create", "update", "move", "disable", "delete"))
        return typer.confirm(f"apply these {writes} operation(s) to the target?", default=False, err=True)

    return ask


@app.command("run")
def run_cmd(
    source: SourceOpt = None,
    target: TargetOpt = None,
    max_ops: MaxOpsOpt = None,
    max_deletions: MaxDel = None,
    max_deletions_pct: MaxDelPct = None,
    max_updates_pct: MaxUpdPct = None,
    max_input_errors: MaxInErr = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Every stage: plan (a fresh dry-run), ask, apply, verify. A re-run finishes pending work first."""
    if not yes and not sys.stdin.isatty():
        raise ConfigError(
            "run writes to the target after a fresh plan: pass --yes to apply it without a "
            "terminal to confirm on (or run `plan`, review its report, then `apply`)"
        )
    safety = _safety_overrides(
        max_deletions=max_deletions,
        max_deletions_pct=max_deletions_pct,
        max_updates_pct=max_updates_pct,
        max_input_errors=max_input_errors,
    )
    with _context("run", source, target, safety=safety) as ctx:
        try:
            out = do_run(ctx, max_ops=max_ops, confirm=None if yes else _confirm(as_json))
        except ThresholdExceededError as exc:
            _refused(exc, as_json)
        except PlanInputError as exc:
            refused = exc.result
            emit({"plan": refused, "error": str(exc)}, as_json, lambda: _plan_render(refused))
            raise
        except Interrupted:
            _interrupted(ctx)
            raise
    if out.get("confirmed") is False:
        emit(out, as_json, lambda: console.print("not applied: nothing was written to the target"))
        raise typer.Exit(EXIT_OK)
    code = EXIT_OK
    if out["apply"]["failed"]:
        code = EXIT_DIFFERENCES
    if out.get("verify") and out["verify"]["verdict"] != Verdict.COMPLETE:
        code = EXIT_DIFFERENCES

    def render() -> None:
        if out["plan"] and yes:
            _plan_render(out["plan"])
        console.print(_apply_line(out["apply"]))
        if out.get("verify"):
            console.print(f"verify: {_marks_line(out['verify']['marks'])}")
            console.print(_verdict_line(out["verify"]["verdict"]))
            console.print(f"report: {out['verify']['report']['dir']}")
        else:
            console.print("stopped before verify: re-run the same command to continue")

    emit(out, as_json, render)
    raise typer.Exit(code)


def _interrupted(ctx: PipelineContext) -> None:
    """Mark the run interrupted, if the store lets us: only a label, since a re-run resumes from the
    stages' own checkpoints either way. Never in place of the Ctrl-C: once a trial's Ctrl-C (1 in ~30)
    ended as "the state store is locked by another process" (exit 2) because this write found the
    store busy, and the user was sent to wait for a process that did not exist."""
    with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError, OSError):
        run_id = ctx.state.runs.current(ctx.source_name, ctx.target_name)
        if run_id is not None:
            ctx.state.runs.set_status(run_id, RunStatus.INTERRUPTED)


@app.command("extract")
def extract_cmd(
    source: SourceOpt = None, target: TargetOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None
) -> None:
    """Read the source into the state store (then reconcile and map)."""
    with _context("extract", source, target) as ctx:
        run_id = open_run(ctx)
        out = {"run_id": run_id, **do_extract(ctx, run_id, force=True)}
        out["input_errors"] = ctx.state.problems.errors(run_id)
    emit(out, as_json, lambda: console.print(f"extracted: {out['records']}  problems: {_problems_line(out)}"))
    raise typer.Exit(EXIT_DIFFERENCES if out["input_errors"] else EXIT_OK)


@app.command("plan")
def plan_cmd(
    source: SourceOpt = None,
    target: TargetOpt = None,
    max_deletions: MaxDel = None,
    max_deletions_pct: MaxDelPct = None,
    max_updates_pct: MaxUpdPct = None,
    max_input_errors: MaxInErr = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The dry-run: what apply would do to each item, and why. Never writes to the target.

    Each plan is a new revision with its own report folder. Exit 1 when the source had input errors
    (over \\[safety] max_input_errors) or a safety threshold is exceeded; the report is written anyway.
    """
    safety = _safety_overrides(
        max_deletions=max_deletions,
        max_deletions_pct=max_deletions_pct,
        max_updates_pct=max_updates_pct,
        max_input_errors=max_input_errors,
    )
    with _context("plan", source, target, safety=safety) as ctx:
        run_id = open_run(ctx)
        try:
            out = do_plan(ctx, run_id, refresh=True)
        except ThresholdExceededError as exc:
            _refused(exc, as_json)
        except PlanInputError as exc:
            refused = exc.result
            emit({**refused, "error": str(exc)}, as_json, lambda: _plan_render(refused))
            raise
        except Interrupted:
            _interrupted(ctx)  # not "planned" any more: the plan being made was not finished
            raise
    emit(out, as_json, lambda: _plan_render(out))


ReviewedOpt = Annotated[
    str | None,
    typer.Option(
        "--plan",
        metavar="DIGEST",
        help="The digest of the plan report you reviewed (as `plan` prints it, 8+ characters): "
        "apply refuses any other plan.",
    ),
]


@app.command("apply")
def apply_cmd(
    source: SourceOpt = None,
    target: TargetOpt = None,
    max_ops: MaxOpsOpt = None,
    max_deletions: MaxDel = None,
    max_deletions_pct: MaxDelPct = None,
    max_updates_pct: MaxUpdPct = None,
    reviewed: ReviewedOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Execute the last reviewed plan idempotently; a re-run resumes where it stopped.

    Refuses (exit 2) when no plan report exists (run `plan` first), when that report was changed since
    plan wrote it, when the configuration names another source, target or mapping than the plan was
    made for, and, with --plan, when the last plan is not the one named.
    """
    safety = _safety_overrides(
        max_deletions=max_deletions, max_deletions_pct=max_deletions_pct, max_updates_pct=max_updates_pct
    )
    with _context("apply", source, target, safety=safety) as ctx:
        run_id = open_run(ctx)
        try:
            out = do_apply(ctx, run_id, max_ops=max_ops, reviewed=reviewed)
        except ThresholdExceededError as exc:
            _refused(exc, as_json)
        except Interrupted:
            _interrupted(ctx)
            raise
    emit(out, as_json, lambda: console.print(_apply_line(out)))
    raise typer.Exit(EXIT_DIFFERENCES if out["failed"] else EXIT_OK)


@app.command("verify")
def verify_cmd(
    source: SourceOpt = None, target: TargetOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None
) -> None:
    """Read the target back and mark every item: = same, + missing, - only on target, * differs, ! error.

    Exit 1 on any difference, and when the source could not be read whole (verdict "incomplete source").
    """
    with _context("verify", source, target) as ctx:
        run_id = ctx.state.runs.current(ctx.source_name, ctx.target_name) or _latest_done(ctx)
        if run_id is None:
            raise ConfigError("nothing to verify yet: run `ent-migrate plan` and `ent-migrate apply` first")
        out = do_verify(ctx, run_id)
        if out["verdict"] == Verdict.COMPLETE and ctx.state.runs.stage_done(run_id, Stage.APPLY):
            ctx.state.runs.set_status(run_id, RunStatus.DONE)

    def render() -> None:
        console.print(f"verify: {_marks_line(out['marks'])}")
        console.print(_verdict_line(out["verdict"]))
        console.print(f"report: {out['report']['dir']}")

    emit(out, as_json, render)
    raise typer.Exit(EXIT_OK if out["verdict"] == Verdict.COMPLETE else EXIT_DIFFERENCES)


def _latest_done(ctx: PipelineContext) -> str | None:
    latest = ctx.state.runs.latest()
    if latest is None:
        return None
    run = ctx.state.runs.get(latest)
    return latest if (run.source_name, run.target_name) == (ctx.source_name, ctx.target_name) else None


RunIdArg = Annotated[str | None, typer.Argument(help="A run id or its first characters (default: the latest).")]


@app.command("status")
def status_cmd(run_id: RunIdArg = None, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Per-stage counts, per-item states, input problems and what is pending."""
    engine = open_state()
    try:
        state = StateStore(engine)
        if run_id is None and state.runs.latest() is None:
            # an audit alone (no migration run) still has its R19 deadline to show
            audit = latest_audit(engine)
            audit_only = {"runs": 0, "audit": audit}

            def render_no_run() -> None:
                console.print("no run yet")
                _print_destruction_deadline(audit)

            emit(audit_only, as_json, render_no_run)
            return
        out = status(state, state.runs.resolve(run_id))
    finally:
        engine.dispose()

    def render() -> None:
        console.print(
            f"run {out['run_id']} ({out['status']}, plan revision {out['plan_revision']}): "
            f"{out['source_name']} → {out['target_name']}",
            highlight=False,
        )
        t = Table("stage", "status")
        for stage, info in out["stages"].items():
            t.add_row(stage, str(info["status"]))
        console.print(t)
        s = Table("kind", "states")
        for kind, states in sorted(out["items"].items()):
            s.add_row(kind, ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        console.print(s)
        journal = ", ".join(f"{k} {v}" for k, v in sorted(out["operations"].items())) or "empty"
        console.print(f"pending operations: {out['pending_operations']}  journal: {journal}")
        if out["input_problems"]:
            console.print("input problems: " + ", ".join(f"{k} ×{v}" for k, v in out["input_problems"].items()))
        if out["verdict"]:
            console.print(_verdict_line(out["verdict"]))
        _print_destruction_deadline(out.get("audit"))

    emit(out, as_json, render)


def _print_destruction_deadline(audit: dict[str, Any] | None) -> None:
    """The R19 line of status: the vendor's destruction PV is due 3 months after the return."""
    if audit and audit["destruction_deadline"] and not audit["destroyed"]:
        left = audit["days_left"]
        when = f"in {left} days" if left >= 0 else f"[red]{-left} days ago[/]"
        console.print(f"destruction PV (R19) due {audit['destruction_deadline']} ({when}): not recorded yet")


@app.command("report")
def report_cmd(
    run_id: RunIdArg = None,
    kind: Annotated[str, typer.Option("--kind", help="plan or verify")] = "verify",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output directory.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Write a run's plan or verify report again (JSON, CSV, HTML, SHA256SUMS).

    A run that was never verified gets a verify report that says so: it certifies nothing.
    """
    if kind not in ("plan", "verify"):
        raise ConfigError("--kind is plan or verify")
    config_ = settings.config
    safety = Safety.from_config(config_.section("safety"), f"{config_.where}: [safety]")
    pseudonymize = pseudonymizer_from_config(config_)
    engine = open_state()
    try:
        state = StateStore(engine)
        run_id = state.runs.resolve(run_id)
        latest = state.reports.latest(run_id, kind)
        revision = (
            latest.revision if latest is not None else (state.runs.get(run_id).plan_revision if kind == "plan" else 1)
        )
        base = out_dir or report_dir_from_config(config_)
        weights = mapping_from_config(config_).weights
        written, folder = write_run_report(
            state, run_id, kind, base, pseudonymize, safety=safety, revision=revision, weights=weights
        )
    finally:
        engine.dispose()
    out = {
        "run_id": run_id,
        "kind": kind,
        "dir": str(folder),
        "digest": written.digest,
        "files": [p.name for p in written.paths],
        "revision": revision,
    }
    emit(out, as_json, lambda: console.print(f"{kind} report written to {folder}", highlight=False))
