"""``ent-migrate promote plan|apply|status|report|schedule|opt-out``: the cycle-3 promotion."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from ent_migrate.cli._common import EXIT_DIFFERENCES, EXIT_OK, ConfigOpt, console, emit, open_state, settings
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError
from ent_migrate.pipeline.context import pseudonymizer_from_config
from ent_migrate.pipeline.safety import Safety
from ent_migrate.promotion.config import PromotionConfig, load_promotion_config
from ent_migrate.promotion.engine import Promoter, RunSummary
from ent_migrate.promotion.report import build_report, status
from ent_migrate.promotion.schedule import cron_line, systemd_units
from ent_migrate.promotion.states import ORDER
from ent_migrate.promotion.store import PromotionStore
from ent_migrate.state.lock import hold_lock

__all__ = ["promote_app"]

promote_app = typer.Typer(
    help="The cycle-3 promotion: CM2 pupils and their work to their collège's ENT.", no_args_is_help=True
)
app.add_typer(promote_app, name="promote")


@promote_app.callback()
def _promote(config: ConfigOpt = None) -> None:
    """The cycle-3 promotion: CM2 pupils and their work to their collège's ENT.

    `ent-migrate promote -c promotion.toml plan` and `ent-migrate promote plan -c promotion.toml` are the same.
    """


JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output on stdout.")]
TodayOpt = Annotated[
    str | None, typer.Option("--today", help="Act as if today were this date (YYYY-MM-DD); for rehearsals.")
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--accept-thresholds", metavar="", help="Apply even though a school's CM2 count is off its expected one."
    ),
]


def _today(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--today {value!r}: expected YYYY-MM-DD") from None


def _setup(today: str | None) -> tuple[PromotionConfig, Promoter, PromotionStore]:
    pc = load_promotion_config(settings.config)
    store = PromotionStore(open_state())
    promoter = Promoter(settings.config, pc, store, pseudonymizer_from_config(settings.config), _today(today))
    return pc, promoter, store


def _summary_data(summary: RunSummary, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "transitions": dict(sorted(summary.transitions.items())),
        "detected": summary.detected,
        "thresholds": summary.thresholds,
        "problems": summary.problems.to_list(),
        "input_errors": summary.input_errors,
        "errors": summary.problems.has_errors,
    }


def _render(data: dict[str, Any]) -> None:
    table = Table(title="promotion: transitions" + (" (dry run)" if data["dry_run"] else ""))
    table.add_column("transition")
    table.add_column("pupils", justify="right")
    for name, n in data["transitions"].items():
        table.add_row(name, str(n))
    console.print(table)
    for line in data["thresholds"]:
        console.print(f"[yellow]threshold[/]: {line}", highlight=False)
    for problem in data["problems"]:
        colour = "red" if problem["severity"] == "error" else "yellow"
        console.print(
            f"[{colour}]{problem['code']}[/] ×{problem['count']}: {', '.join(problem['examples'])}", highlight=False
        )


@promote_app.command("plan")
def plan_cmd(config: ConfigOpt = None, today: TodayOpt = None, as_json: JsonOpt = False) -> int:
    """Dry run: what the next apply would do, per transition. Writes nothing."""
    _pc, promoter, _store = _setup(today)
    data = _summary_data(promoter.run(dry_run=True), True)
    emit(data, as_json, lambda: _render(data))
    # as the pipeline's plan: an error-level problem (or a count off) is exit 1; warnings are shown only
    return EXIT_DIFFERENCES if data["thresholds"] or data["errors"] else EXIT_OK


@promote_app.command("apply")
def apply_cmd(
    config: ConfigOpt = None, today: TodayOpt = None, as_json: JsonOpt = False, accept: ForceOpt = False
) -> int:
    """Dry-run, check the thresholds, then move each pupil one step further where due (resumable)."""
    _pc, promoter, store = _setup(today)
    with hold_lock(store.engine, "promote apply"):
        rehearsal = promoter.run(dry_run=True)
        accepted = Safety.from_config(settings.config.section("safety")).max_input_errors
        refusal = None
        if rehearsal.thresholds and not accept:
            refusal = "CM2 counts are off; check the sources or pass --accept-thresholds"
        elif accepted != -1 and rehearsal.input_errors > accepted:
            # as the pipeline's plan: records the sources could not read may be pupils left behind
            refusal = (
                f"the sources have {rehearsal.input_errors} input error(s), over [safety] max_input_errors = "
                f"{accepted}: fix the source, or accept them knowingly with max_input_errors = {rehearsal.input_errors}"
            )
        if refusal is not None:
            data = _summary_data(rehearsal, True)
            emit(data, as_json, lambda: _render(data))
            console.print(f"[red]refused[/]: {refusal}", highlight=False)
            return EXIT_DIFFERENCES
        data = _summary_data(promoter.run(dry_run=False), False)
    emit(data, as_json, lambda: _render(data))
    return EXIT_DIFFERENCES if data["errors"] else EXIT_OK


def _keys_line(m: dict[str, Any]) -> str:
    return f"score {m['score']}, matched {', '.join(m['matched']) or '-'}, differed {', '.join(m['differed']) or '-'}"


@promote_app.command("status")
def status_cmd(config: ConfigOpt = None, today: TodayOpt = None, as_json: JsonOpt = False) -> int:
    """Counts per state per école, and the deadlines (read-only, deletion)."""
    pc, promoter, store = _setup(today)
    data = status(store, pc, promoter.today, promoter.pseudo)

    def render() -> None:
        table = Table(title=f"promotion {pc.school_year}-{pc.school_year + 1}")
        table.add_column("école")
        for s in ORDER:
            table.add_column(s.value, justify="right")
        for uai, counts in data["schools"].items():
            table.add_row(uai, *(str(counts[s.value]) for s in ORDER))
        console.print(table)
        d = data["deadlines"]
        console.print(
            f"notices before {d['notices_before']} · primary read-only from {d['primary_read_only']} · "
            f"deleted by {d['primary_deleted_by']} ({d['days_to_deletion']} days)",
            highlight=False,
        )
        for ref, pupil in data["pupils"].items():
            m = pupil["match"]
            if pupil["reason"] == "review" and m is not None:
                line = f"review {ref}: {m['candidates']} candidate(s), {_keys_line(m)}"
                if "runner_up" in m:
                    line += f"; next: {_keys_line(m['runner_up'])}"
                console.print(line, highlight=False)

    emit(data, as_json, render)
    return EXIT_OK


@promote_app.command("report")
def report_cmd(config: ConfigOpt = None) -> int:
    """Write the French reports per école and per collège (pseudonymous) under the output folder."""
    pc = load_promotion_config(settings.config)
    store = PromotionStore(open_state())
    data = build_report(store, pc, pseudonymizer_from_config(settings.config))
    pc.output.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = pc.output / "rapport-promotion.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    console.print(f"report written: {path}", highlight=False)
    return EXIT_OK


@promote_app.command("schedule")
def schedule_cmd(
    config: ConfigOpt = None,
    print_: Annotated[
        bool, typer.Option("--print", metavar="", help="Print the systemd units and the cron line.")
    ] = True,
) -> int:
    """The systemd timer + service and the cron line that run `promote apply` in the window."""
    pc = load_promotion_config(settings.config)
    path = (settings.config_path or settings.config.path or typer.get_app_dir("ent-migrate")).__str__()
    from pathlib import Path

    cfg = Path(path).resolve()
    for name, text in systemd_units(pc, cfg).items():
        sys.stdout.write(f"# ---- {name}\n{text}\n")
    sys.stdout.write(f"# ---- crontab\n{cron_line(pc, cfg)}\n")
    return EXIT_OK


@promote_app.command("opt-out")
def opt_out_cmd(
    pupil: Annotated[str, typer.Argument(help="The pupil's primary-side id.")], config: ConfigOpt = None
) -> int:
    """Record a family's opt-out: the pupil's work will not be moved."""
    pc = load_promotion_config(settings.config)
    store = PromotionStore(open_state())
    with hold_lock(store.engine, "promote opt-out"):
        if not store.set_opt_out(f"{pc.school_year}|{pupil}"):
            raise ConfigError("no such pupil in this promotion (run `promote apply` first to detect them)")
    console.print("opt-out recorded")
    return EXIT_OK
