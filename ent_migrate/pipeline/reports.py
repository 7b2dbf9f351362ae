"""Build the plan and verify reports from the state store, write them, and record their digest.

Each report has its own folder with its own ``SHA256SUMS``: ``<run>/plan-<revision>/`` for each plan
revision (a re-plan never overwrites the reviewed dry-run) and ``<run>/verify-<n>/`` for each verify.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import operator
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from ent_migrate.matching import DEFAULT_WEIGHTS, Weights
from ent_migrate.matching.explain import explain_match, login_origin
from ent_migrate.model import RecordKind
from ent_migrate.outcomes import MARKS, Verdict
from ent_migrate.pipeline._forked import FORK_MIN_ROWS, can_fork, forked_rows
from ent_migrate.pipeline.safety import Safety
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportData, ReportItem, WrittenReport, remove_stale_temps, run_folder_lock, write_reports
from ent_migrate.state import StateStore
from ent_migrate.state.identities import target_source

__all__ = ["report_folder", "write_run_report"]


def report_folder(report_dir: Path, run_id: str, kind: str, revision: int) -> Path:
    return report_dir / run_id / f"{kind}-{revision}"


def _where(payload: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not payload:
        return None, None
    if payload.get("kind") == "person":
        structures = payload.get("structures") or []
        return (structures[0] if structures else None), payload.get("profile")
    return payload.get("uai"), None


def _items(
    state: StateStore, run_id: str, kind: str, weights: Weights, schools: dict[str, dict[str, int]]
) -> Generator[ReportItem, None, None]:
    """The report's rows; counts the people per school and profile into *schools* on the way (their
    expected records are at hand: a second pass decoded every person's payload again, issue 15)."""
    run = state.runs.get(run_id)
    for rows in state.items.scan_for_report(run_id):
        people = (
            _people(
                state,
                run.source_name,
                run.target_name,
                run_id,
                [r for r in rows if r.kind == RecordKind.PERSON],
                weights,
            )
            if kind == "plan"
            else {}
        )
        for row in rows:
            uai, profile = _where(row.payload)
            if row.expected and row.kind == RecordKind.PERSON:
                bucket = schools.setdefault(uai or "?", {})
                bucket[profile or "?"] = bucket.get(profile or "?", 0) + 1
            if kind == "plan":
                status, reason = row.action or "skip", row.reason or ""
            elif row.mark is None:
                continue  # deleted as planned: nothing left to compare
            else:
                status, reason = row.mark, row.mark_reason or ""
            extra = people.get(row.key, {}) if row.kind == RecordKind.PERSON else {}
            yield ReportItem(
                kind=row.kind, key=row.key, status=status, reason=reason, uai=uai, profile=profile, **extra
            )


#: A report row as the child sends it: a plain tuple of ReportItem's fields, in their order (derived,
#: so that a field added to ReportItem travels too), cheap to pickle.
_pack: Callable[[ReportItem], tuple[Any, ...]] = operator.attrgetter(*(f.name for f in dataclasses.fields(ReportItem)))


def _unpack(row: tuple[Any, ...]) -> ReportItem:
    return ReportItem(*row)


def _report_items(
    state: StateStore, run_id: str, kind: str, weights: Weights, schools: dict[str, dict[str, int]], rows: int
) -> Generator[ReportItem, None, None]:
    """:func:`_items`, read in a child process while this one writes (the report's second core,
    :mod:`ent_migrate.pipeline._forked`) when the run is large enough and the platform forks."""
    if rows < FORK_MIN_ROWS or not can_fork():
        return _items(state, run_id, kind, weights, schools)
    counted: dict[str, dict[str, int]] = {}  # the child's: sent back when its rows are done
    return forked_rows(
        state.engine,
        lambda: _items(state, run_id, kind, weights, counted),
        _pack,
        _unpack,
        finish=lambda: counted,
        on_end=schools.update,
    )


def _people(
    state: StateStore,
    source: str,
    target: str,
    run_id: str,
    rows: list[Any],
    weights: Weights = DEFAULT_WEIGHTS,
) -> dict[str, dict[str, str | None]]:
    """Per person of one batch: the identity, how it was matched and why, the login's origin (a
    handful of queries a batch, whatever its size)."""
    keys = [r.key for r in rows]
    if not keys:
        return {}
    canonical = state.identities.canonical_of(source, keys)
    # A record map re-keyed onto the account an earlier run made or the target holds: its key is the
    # account's, not one of this source's ids; it is explained as the source record folded onto it
    # (the first of its ``source_ids`` this source knows), so the row names the identity it serves.
    claims = {
        row.key: [str(i) for i in (row.payload or {}).get("source_ids") or ()]
        for row in rows
        # Not what only the target holds: its source_ids are the target's word, not this run's fold.
        if row.key not in canonical and row.from_source
    }
    via: dict[str, str] = {}  # account key -> the source id it is explained as
    if any(claims.values()):
        known = state.identities.canonical_of(source, [i for ids in claims.values() for i in ids])
        via = {key: next(i for i in ids if i in known) for key, ids in claims.items() if known.keys() & ids}
        canonical |= known
    facts = state.identities.facts_of(set(canonical.values()))
    merged = {p for (p, c), d in state.review.decisions(source, keys).items() if d == "merge" and canonical.get(p) == c}
    logins = state.identities.login_pairs(source, keys)
    # A person on an account the target holds under their own key keeps its login (map): kept.
    if unlisted := [k for k in keys if k not in logins]:
        logins |= state.identities.login_pairs(target_source(target), unlisted)
    out: dict[str, dict[str, str | None]] = {}
    for row in rows:
        explained = via.get(row.key, row.key)
        found = explain_match(
            explained,
            row.payload or {},
            canonical.get(explained),
            facts.get(canonical.get(explained, "")),
            merged=row.key in merged,
            weights=weights,
            source=source,
            run_id=run_id,
        )
        if found is None:
            continue  # a person only the target holds: no identity of this run
        old, new = logins.get(row.key, (None, None))
        out[row.key] = {
            "identity": found.identity,
            "match": found.method,
            "why": found.why,
            "login": login_origin(new, old),
        }
    return out


def _conflicts(state: StateStore, source: str) -> list[dict[str, str]]:
    """Every review queue entry of this source still undecided: what the dry-run must list."""
    return [
        {
            "reason": str(e["reason"]),
            "person": str(e["person_key"]),
            "candidate": str(e["candidate_key"]),
            "profile": str(e["profile"]),
            "score": str(e["score"]),
            "matched": str(e["matched"]),
            "differed": str(e["differed"]),
        }
        for e in state.review.entries(pending_only=True)
        if e["source"] == source
    ]


def _unread(state: StateStore, run_id: str) -> Iterator[dict[str, Any]]:
    for batch in state.problems.scan(run_id):
        for o in batch:
            yield {"code": o.code, "severity": str(o.severity), "where": o.where, "detail": o.detail}


def write_run_report(
    state: StateStore,
    run_id: str,
    kind: str,
    report_dir: Path,
    pseudonymize: Pseudonymizer,
    *,
    safety: Safety,
    problems: list[dict[str, Any]] | None = None,
    csv_delimiter: str = ",",
    verdict: str | None = None,
    refusal: str | None = None,
    revision: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    inputs: dict[str, str] | None = None,
) -> tuple[WrittenReport, Path]:
    """Write the *kind* report of *run_id* into its own folder; return it and the folder. *weights*
    are those reconcile used (the mapping's ``[matching]``): a join is explained with its own score.
    *inputs* are what a plan was made from (:func:`~ent_migrate.pipeline.reviewed.plan_inputs`); a plan
    report written again keeps those of the plan it shows."""
    # One writer of this run's reports at a time (ent_migrate.report._temps): two `ent-migrate report`
    # at once, which take no store lock, would mix their files in one folder, and log a digest the
    # folder does not hold.
    with run_folder_lock(report_dir / run_id):
        run = state.runs.get(run_id)
        by_kind = state.items.counts_by_kind(run_id, marks=kind == "verify")
        counts: dict[str, int] = {}
        for per_kind in by_kind.values():
            for label, n in per_kind.items():
                counts[label] = counts.get(label, 0) + n
        if kind == "verify":
            for mark in MARKS:
                counts.setdefault(str(mark), 0)
        if revision is None:
            revision = run.plan_revision if kind == "plan" else state.reports.count(run_id, kind) + 1
        input_errors = state.problems.errors(run_id)
        accepted = min(input_errors, safety.max_input_errors) if safety.max_input_errors != -1 else input_errors
        if verdict is None:
            verdict = (
                ("input-problems" if input_errors > accepted else "ready")
                if kind == "plan"
                else (run.verdict or Verdict.NOT_VERIFIED)
            )
        plan_entry = state.reports.latest(run_id, "plan") if kind == "verify" else None
        schools: dict[str, dict[str, int]] = {}  # filled as the items are written (the CSV comes first)
        items = _report_items(state, run_id, kind, weights, schools, sum(counts.values()))
        data = ReportData(
            kind=kind,
            run_id=run_id,
            created_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            source=run.source,
            target=run.target,
            counts=counts,
            counts_by_kind=by_kind,
            counts_by_school=schools,
            items=items,
            problems=problems if problems is not None else _problem_summary(state, run_id),
            thresholds=safety.as_dict(),
            verdict=str(verdict),
            key_id=pseudonymize.key_id,
            revision=revision,
            input_errors=input_errors,
            accepted_input_errors=accepted if accepted <= input_errors else 0,
            unread=_unread(state, run_id),
            refusal=refusal,
            plan_digest=run.applied_plan_digest or (plan_entry.digest if plan_entry else None),
            conflicts=_conflicts(state, run.source_name) if kind == "plan" else None,
        )
        folder = report_folder(report_dir, run_id, kind, revision)
        remove_stale_temps(folder.parent)  # what a killed report of this run left (ent_migrate.report._temps)
        # Closed whatever happens: a writer that fails stops the child reading for it now, not when the
        # generator is collected.
        with contextlib.closing(items):
            written = write_reports(data, folder, pseudonymize, csv_delimiter=csv_delimiter)
        summary: dict[str, Any] = {"counts": counts, "verdict": str(verdict)}
        shown = state.reports.latest(run_id, "plan") if inputs is None and kind == "plan" else None
        if shown is not None and shown.revision == revision and "inputs" in shown.summary:
            inputs = shown.summary["inputs"]
        if inputs is not None:
            summary["inputs"] = inputs
        state.reports.add(run_id, kind, revision, str(folder), written.digest, summary)
        state.runs.set_report_digest(run_id, written.digest)
        return written, folder


def _problem_summary(state: StateStore, run_id: str) -> list[dict[str, Any]]:
    """Per code: severity, count and the first places (when the stage's own summary is not at hand)."""
    examples: dict[tuple[str, str], list[str]] = {}
    for batch in state.problems.scan(run_id):
        for o in batch:
            kept = examples.setdefault((o.code, str(o.severity)), [])
            if len(kept) < 5:
                kept.append(o.where)
    counts = state.problems.counts(run_id)
    return [
        {"code": code, "severity": severity, "count": n, "examples": examples.get((code, severity), [])}
        for (code, severity), n in sorted(counts.items())
    ]
