"""``ent-migrate run | extract | plan | apply | verify | status | report``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from ent_migrate.cli._common import EXIT_DIFFERENCES, EXIT_OK, ConfigOpt, console, emit, progress, settings
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError
from ent_migrate.pipeline import PipelineContext, do_apply, do_extract, do_plan, do_run, do_verify, status
from ent_migrate.pipeline._db import table
from ent_migrate.pipeline.context import pseudonymizer_from_config, report_dir_from_config
from ent_migrate.pipeline.reports import write_run_report
from ent_migrate.pipeline.runner import RunStatus, current_run, finish_run, open_run, stage_done
from ent_migrate.state import open_store, resolve_state_url

__all__: list[str] = []

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Which [source.NAME] of the config.")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Which [target.NAME] of the config.")]
MaxOpsOpt = Annotated[
    int | None, typer.Option("--max-ops", min=1, help="Stop cleanly after N operations (staged switchover).")
]


@contextmanager
def _context(source: str | None, target: str | None, **overrides: Any) -> Iterator[PipelineContext]:
    if settings.config_path is None:
        raise ConfigError(
            "this command needs a configuration: pass --config FILE "
            "(`make demo` writes an example in demo-out/ent-migrate.toml)"
        )
    engine = _engine()
    safety = {k: overrides.pop(k) for k in ("max_deletions", "max_deletions_pct", "max_updates_pct")
              if overrides.get(k) is not None}
    ctx = PipelineContext.from_config(engine, settings.config, source=source, target=target, overrides=overrides)
    if safety:
        ctx.safety = dataclasses.replace(ctx.safety, **safety)
    ctx.progress = progress
    try:
        yield ctx
    finally:
        ctx.close()
        engine.dispose()


def _actions_table(actions: dict[str, Any]) -> None:
    table_ = Table("action", "items", title="Dry-run plan")
    for action in ("create", "update", "move", "disable", "delete", "skip", "invalid"):
        table_.add_row(action, str(actions.get(action, 0)))
    console.print(table_)


def _marks_line(marks: dict[str, int]) -> str:
    return "  ".join(f"{m} {marks.get(m, 0)}" for m in ("=", "+", "-", "*", "!"))


def _differs(marks: dict[str, int]) -> bool:
    """Any mark but ``=``: what makes verify exit 1."""
    return any(n for m, n in marks.items() if m != "=")


def _apply_line(a: dict[str, Any]) -> str:
    return f"apply: {a['done']} done, {a['already_done']} already done, {a['failed']} failed, {a['pending']} pending"


MaxDel = Annotated[int | None, typer.Option("--max-deletions", help="Override [safety] max_deletions.")]
MaxDelPct = Annotated[float | None, typer.Option("--max-deletions-pct", help="Override [safety] max_deletions_pct.")]
MaxUpdPct = Annotated[float | None, typer.Option("--max-updates-pct", help="Override [safety] max_updates_pct.")]


@app.command("run")
def run_cmd(
    source: SourceOpt = None, target: TargetOpt = None, max_ops: MaxOpsOpt = None,
    max_deletions: MaxDel = None, max_deletions_pct: MaxDelPct = None, max_updates_pct: MaxUpdPct = None,
    as_json: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """Every stage: extract, reconcile, map, plan, apply, verify. A re-run finishes pending work first."""
    with _context(source, target, max_deletions=max_deletions, max_deletions_pct=max_deletions_pct,
                  max_updates_pct=max_updates_pct) as ctx:
        out = do_run(ctx, max_ops=max_ops)
    code = EXIT_OK
    if out["apply"]["failed"]:
        code = EXIT_DIFFERENCES
    if out.get("verify") and _differs(out["verify"]["marks"]):
        code = EXIT_DIFFERENCES

    def render() -> None:
        if out["plan"]:
            _actions_table(out["plan"]["actions"])
        console.print(_apply_line(out["apply"]))
        if out.get("verify"):
            console.print(f"verify: {_marks_line(out['verify']['marks'])}")
            console.print(f"report: {out['verify']['report']['dir']}")
        else:
            console.print("stopped before verify: re-run the same command to continue")

    emit(out, as_json, render)
    raise typer.Exit(code)


@app.command("extract")
def extract_cmd(
    source: SourceOpt = None, target: TargetOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None
) -> None:
    """Read the source into the state store (then reconcile and map)."""
    with _context(source, target) as ctx:
        run_id = open_run(ctx)
        out = {"run_id": run_id, **do_extract(ctx, run_id, force=True)}
    emit(out, as_json, lambda: console.print(f"extracted: {out['records']}  problems: {len(out['problems'])}"))
    raise typer.Exit(EXIT_DIFFERENCES if out["problems"] else EXIT_OK)


@app.command("plan")
def plan_cmd(
    source: SourceOpt = None, target: TargetOpt = None,
    max_deletions: MaxDel = None, max_deletions_pct: MaxDelPct = None, max_updates_pct: MaxUpdPct = None,
    as_json: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """The dry-run: what apply would do to each item, and why. Never writes to the target."""
    with _context(source, target, max_deletions=max_deletions, max_deletions_pct=max_deletions_pct,
                  max_updates_pct=max_updates_pct) as ctx:
        run_id = open_run(ctx)
        out = do_plan(ctx, run_id, refresh=True)

    def render() -> None:
        _actions_table(out["actions"])
        console.print(f"report: {out['report']['dir']}")

    emit(out, as_json, render)


@app.command("apply")
def apply_cmd(
    source: SourceOpt = None, target: TargetOpt = None, max_ops: MaxOpsOpt = None,
    max_deletions: MaxDel = None, max_deletions_pct: MaxDelPct = None, max_updates_pct: MaxUpdPct = None,
    as_json: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """Execute the plan idempotently; a re-run resumes where it stopped."""
    with _context(source, target, max_deletions=max_deletions, max_deletions_pct=max_deletions_pct,
                  max_updates_pct=max_updates_pct) as ctx:
        run_id = open_run(ctx)
        out = do_apply(ctx, run_id, max_ops=max_ops)
    emit(out, as_json, lambda: console.print(_apply_line(out)))
    raise typer.Exit(EXIT_DIFFERENCES if out["failed"] else EXIT_OK)


@app.command("verify")
def verify_cmd(
    source: SourceOpt = None, target: TargetOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None
) -> None:
    """Read the target back and mark every item: = same, + missing, - only on target, * differs, ! error."""
    with _context(source, target) as ctx:
        run_id = current_run(ctx, new_if_done=False)
        if run_id is None:
            raise ConfigError("nothing to verify yet: run `ent-migrate plan` and `ent-migrate apply` first")
        out = do_verify(ctx, run_id)
        differs = _differs(out["marks"])
        if not differs and stage_done(ctx, run_id, "apply"):
            finish_run(ctx, run_id, RunStatus.DONE)
    emit(out, as_json, lambda: console.print(f"verify: {_marks_line(out['marks'])}\nreport: {out['report']['dir']}"))
    raise typer.Exit(EXIT_DIFFERENCES if differs else EXIT_OK)


def _engine() -> Any:
    return open_store(resolve_state_url(settings.state_url, settings.config))


@app.command("status")
def status_cmd(run_id: Annotated[str | None, typer.Argument(help="A run id (default: the latest).")] = None,
               as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Per-stage counts, per-item states and what is pending."""
    engine = _engine()
    runs = table("runs")
    with engine.connect() as conn:
        if run_id is None:
            run_id = conn.execute(select(runs.c.id).order_by(runs.c.created_at.desc()).limit(1)).scalar()
    if run_id is None:
        emit({"runs": 0}, as_json, lambda: console.print("no run yet"))
        return
    out = status(engine, run_id)

    def render() -> None:
        console.print(f"run {out['run_id']} ({out['status']}): {out['source']} → {out['target']}")
        t = Table("stage", "status")
        for stage, info in out["stages"].items():
            t.add_row(stage, info["status"])
        console.print(t)
        s = Table("kind", "states")
        for kind, states in sorted(out["items"].items()):
            s.add_row(kind, ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        console.print(s)
        console.print(f"pending operations: {out['pending_operations']}  journal: {out['operations']}")

    emit(out, as_json, render)


@app.command("report")
def report_cmd(
    run_id: str,
    kind: Annotated[str, typer.Option("--kind", help="plan or verify")] = "verify",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output directory.")] = None,
    as_json: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """Write a run's plan or verify report again (JSON, CSV, HTML, SHA256SUMS)."""
    if kind not in ("plan", "verify"):
        raise ConfigError("--kind is plan or verify")
    engine = _engine()
    target_dir = out_dir or report_dir_from_config(settings.config) / run_id
    written = write_run_report(engine, run_id, kind, target_dir, pseudonymizer_from_config(settings.config))
    out = {"run_id": run_id, "kind": kind, "dir": str(target_dir), "digest": written.digest,
           "files": [p.name for p in written.paths]}
    emit(out, as_json, lambda: console.print(f"{kind} report written to {target_dir}"))
