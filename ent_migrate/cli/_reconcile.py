"""``ent-migrate review export|import|list``, ``merge undo`` and ``logins export``.

The review CSV carries pseudonyms (the run's keyed Pseudonymizer) plus the facts a person needs to
decide (initials, birth year, schools, classes, score, keys matched/differed); see
:mod:`ent_migrate.matching.review`. The logins CSV is the letter to families: it holds the old and
new logins by design, so it is written only to the file named, never printed or logged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ent_migrate.cli._common import ConfigOpt, console, emit, open_state, settings
from ent_migrate.cli.app import app
from ent_migrate.matching import PersonFacts, ReviewError, ReviewItem, read_review_csv, review_id, write_review_csv
from ent_migrate.matching.score import MatchExplanation
from ent_migrate.pipeline.context import pseudonymizer_from_config
from ent_migrate.privatefile import write_private_text
from ent_migrate.report.writers import csv_cell
from ent_migrate.state import StateStore

__all__: list[str] = []

review_app = typer.Typer(help="The review queue: matches reconciliation could not decide.", no_args_is_help=True)
merge_app = typer.Typer(help="Merges of identities.", no_args_is_help=True)
logins_app = typer.Typer(help="The old → new id and login map.", no_args_is_help=True)
app.add_typer(review_app, name="review")
app.add_typer(merge_app, name="merge")
app.add_typer(logins_app, name="logins")

OutArg = Annotated[Path, typer.Argument(help="CSV file to write.")]
InArg = Annotated[Path, typer.Argument(help="Review CSV with the decision column filled (merge / distinct).")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output.")]


def _blank(key: str, profile: str) -> PersonFacts:
    return PersonFacts(key=key, profile=profile, last_name="", first_name="")


@review_app.command("export")
def review_export(out: OutArg, config: ConfigOpt = None) -> None:
    """Write the pending review queue as CSV (pseudonymised ids plus the facts needed to decide)."""
    pseudonym = pseudonymizer_from_config(settings.config)
    engine = open_state()
    try:
        state = StateStore(engine)
        entries = state.review.entries(pending_only=True)
        facts = state.identities.facts_of({e["person_key"] for e in entries} | {e["candidate_key"] for e in entries})
        items = [
            ReviewItem(
                PersonFacts.from_payload(e["person_key"], facts[e["person_key"]])
                if e["person_key"] in facts
                else _blank(e["person_key"], e["profile"]),
                PersonFacts.from_payload(e["candidate_key"], facts[e["candidate_key"]])
                if e["candidate_key"] in facts
                else _blank(e["candidate_key"], e["profile"]),
                MatchExplanation(
                    float(e["score"]), tuple(e["matched"].split()), tuple(e["differed"].split()), "review"
                ),
                e["reason"],
            )
            for e in entries
        ]
    finally:
        engine.dispose()
    write_private_text(out, [write_review_csv(items, pseudonym)])
    console.print(f"{len(items)} pair(s) to review written to {out}", highlight=False)


@review_app.command("import")
def review_import(path: InArg, config: ConfigOpt = None) -> None:
    """Read decisions back; they are kept in the state store and replayed on every later run."""
    pseudonym = pseudonymizer_from_config(settings.config)
    decisions = read_review_csv(path)
    engine = open_state()
    try:
        state = StateStore(engine)
        by_rid = {review_id(pseudonym, e["person_key"], e["candidate_key"]): e for e in state.review.entries()}
        chosen: dict[int, str] = {}
        for d in decisions:
            entry = by_rid.get(d.review_id)
            if entry is None:
                raise ReviewError(
                    f"{path}:{d.line}: review_id {d.review_id} is not in the queue (another key or state store?)"
                )
            chosen[int(entry["id"])] = d.decision
        with state.lock("review import"):
            state.review.decide(chosen)
            merged = 0
            for entry_id, decision in chosen.items():
                entry = next(e for e in by_rid.values() if e["id"] == entry_id)
                if decision == "merge":
                    state.review.merge(entry["source"], entry["person_key"], entry["candidate_key"])
                    merged += 1
    finally:
        engine.dispose()
    console.print(f"{len(chosen)} decision(s) imported, {merged} merge(s) made", highlight=False)


@review_app.command("list")
def review_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The pending queue by reason and profile (counts only: no ids)."""
    engine = open_state()
    try:
        entries = StateStore(engine).review.entries(pending_only=True)
    finally:
        engine.dispose()
    counts: dict[str, int] = {}
    for e in entries:
        label = f"{e['profile']} {e['reason']}"
        counts[label] = counts.get(label, 0) + 1

    def render() -> None:
        t = Table("profile and reason", "pairs")
        for label, n in sorted(counts.items()):
            t.add_row(label, str(n))
        console.print(t)

    emit({"review_queue": len(entries), "by_reason": counts}, as_json, render)


@merge_app.command("undo")
def merge_undo(
    merge_id: Annotated[int, typer.Argument(help="The merge's id (ent-migrate merge list).")], config: ConfigOpt = None
) -> None:
    """Undo a merge: the alias goes back to the identity it had before."""
    engine = open_state()
    try:
        state = StateStore(engine)
        with state.lock("merge undo"):
            try:
                state.review.undo_merge(merge_id)
            except LookupError as exc:
                raise ReviewError(str(exc)) from exc
    finally:
        engine.dispose()
    console.print(f"merge {merge_id} undone", highlight=False)


@merge_app.command("list")
def merge_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The merges made, with their ids (pseudonymised)."""
    pseudonym = pseudonymizer_from_config(settings.config)
    engine = open_state()
    try:
        merges = StateStore(engine).review.merges()
    finally:
        engine.dispose()
    rows = [
        {
            "id": m["id"],
            "source": m["source"],
            "person": pseudonym(m["source_id"]),
            "into": pseudonym(m["into_identity"]),
            "undone": m["undone_at"] is not None,
        }
        for m in merges
    ]
    emit(rows, as_json)


@logins_app.command("export")
def logins_export(out: OutArg, config: ConfigOpt = None) -> None:
    """The old → new id and login map, for the letters to families (personal data: keep it safe)."""
    engine = open_state()
    try:
        rows = StateStore(engine).identities.id_map_rows()
    finally:
        engine.dispose()

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("source", "old_id", "old_login", "new_login"))
        for row in rows:  # a source id is the vendor's text: guarded against formula injection
            writer.writerow([csv_cell(cell or "") for cell in row])
            if buf.tell() > 1 << 16:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    write_private_text(out, lines())
    console.print(f"{len(rows)} login(s) written to {out}", highlight=False)
