"""What apply checks before its first write: the plan it executes is the one that was reviewed.

A dry-run is only worth its review if the writes that follow are the ones it listed. So, before the
first operation of a run (:func:`reviewed_plan`):

1. the run's last plan finished, was applicable, and its report was written;
2. that report is still as plan wrote it: ``SHA256SUMS`` hashes to the digest the state store kept,
   and every file it names hashes as listed. An edited report (or a CSV a spreadsheet saved again) is
   not the dry-run ent-migrate wrote; ``ent-migrate report RUN --kind plan`` writes it again, and that
   new report is the one to review;
3. the plan was made for this configuration (:func:`plan_inputs`): the same source and target
   locations and the same mapping. A target changed between plan and apply, or a config copied into
   another folder with the same absolute ``[state] url``, would otherwise receive a plan computed
   against another target's accounts. This is checked on every resume too: half a plan written to one
   target and the rest to another is worse than either;
4. with ``apply --plan DIGEST``, the lead names the report they read (its digest, or its first 8+
   characters): a newer plan, a colleague's re-plan, is refused.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ent_migrate.errors import ConfigError, NoPlanError
from ent_migrate.outcomes import Stage
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.report.writers import SUMS_NAME, SumsMismatchError, check_sums

__all__ = ["plan_inputs", "resumed_plan", "reviewed_plan"]

_MIN_DIGEST_PREFIX = 8


def plan_inputs(ctx: PipelineContext) -> dict[str, str]:
    """What a plan was computed from, kept with its report's entry: the source and target locations
    (as the run records them) and the mapping's digest."""
    return {"source": ctx.source_spec, "target": ctx.target_spec, "mapping": ctx.mapping.digest}


def _check_inputs(ctx: PipelineContext, summary: dict[str, Any], revision: int) -> None:
    """NoPlanError when the configuration no longer names what plan revision *revision* was made for.
    A plan entry written before ent-migrate kept its inputs has none: nothing to compare."""
    planned = summary.get("inputs")
    if not isinstance(planned, dict):
        return
    now = plan_inputs(ctx)
    changed = [
        f"the {name} was {planned.get(name)!r}, the configuration now says {now[name]!r}"
        for name in ("target", "source")
        if planned.get(name) != now[name]
    ]
    if planned.get("mapping") != now["mapping"]:
        changed.append("the mapping file changed")
    if changed:
        raise NoPlanError(
            f"the plan (revision {revision}) was made for another configuration: {'; '.join(changed)}. "
            "Restore the configuration it was made for, or plan again and review the new report"
        )


def reviewed_plan(ctx: PipelineContext, run_id: str, expected: str | None = None) -> str:
    """The digest of the plan report apply is about to execute, after checks 1 to 4 above."""
    runs = ctx.state.runs
    run = runs.get(run_id)
    entry = ctx.state.reports.latest(run_id, "plan")
    if not runs.stage_done(run_id, Stage.PLAN) or entry is None or entry.revision != run.plan_revision:
        raise NoPlanError(
            "there is no reviewed plan to apply for this source and target: run `ent-migrate plan` first, read "
            "its report, then `ent-migrate apply` (or `ent-migrate run`, which plans, asks, then applies)"
        )
    if entry.summary.get("verdict") not in (None, "ready"):
        raise NoPlanError(
            f"the last plan (revision {entry.revision}) was not applicable "
            f"({entry.summary.get('verdict')}): fix what its report says and plan again"
        )
    if expected is not None:
        _check_named(expected, entry.digest, entry.revision)
    _check_inputs(ctx, entry.summary, entry.revision)
    _check_report_files(Path(entry.path), entry.digest, run_id)
    return entry.digest


def _named(expected: str) -> str:
    """``--plan``'s digest, checked for shape and lower-cased."""
    wanted = expected.strip().lower()
    if len(wanted) < _MIN_DIGEST_PREFIX or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise ConfigError(
            f"--plan takes the digest of the plan report you reviewed (at least {_MIN_DIGEST_PREFIX} hexadecimal "
            f"characters, as `ent-migrate plan` prints it), not {expected!r}"
        )
    return wanted


def _check_named(expected: str, digest: str, revision: int) -> None:
    wanted = _named(expected)
    if not digest.startswith(wanted):
        raise NoPlanError(
            f"the last plan of this run is revision {revision} ({digest[:12]}), not the one you name "
            f"({wanted[:12]}): review its report, then apply it with --plan {digest[:12]}"
        )


def resumed_plan(ctx: PipelineContext, run_id: str, applied: str, expected: str | None = None) -> None:
    """An apply resumed: its plan (digest *applied*) was checked when it began; the configuration must
    still name what that plan was made for (check 3), and ``--plan``, if given, that plan (check 4)."""
    entry = ctx.state.reports.by_digest(run_id, "plan", applied)
    if entry is not None:
        _check_inputs(ctx, entry.summary, entry.revision)
    if expected is not None and not applied.startswith(_named(expected)):
        raise NoPlanError(
            f"this run is finishing the apply of plan {applied[:12]}, begun before; --plan {expected} names "
            "another: run apply without --plan (or with that digest) to finish it, then plan again"
        )


def _check_report_files(folder: Path, digest: str, run_id: str) -> None:
    """The plan report is still as plan wrote it (check 2)."""
    again = (
        f"write it again with `ent-migrate report {run_id[:8]} --kind plan`, review that report, "
        "then apply (or plan again)"
    )
    sums_path = folder / SUMS_NAME
    try:
        raw = sums_path.read_bytes()
    except OSError as exc:
        raise NoPlanError(
            f"the reviewed plan report is not where plan wrote it ({sums_path}: {exc.strerror or exc}): "
            f"restore it, or {again}"
        ) from None
    if hashlib.sha256(raw).hexdigest() != digest:
        raise NoPlanError(f"{sums_path} is not the one plan wrote (its digest differs): {again}")
    try:
        check_sums(folder, raw.decode("ascii", "replace"))
    except SumsMismatchError as exc:
        raise NoPlanError(f"{exc}{' since plan wrote it' if exc.changed else ''}: {again}") from None
