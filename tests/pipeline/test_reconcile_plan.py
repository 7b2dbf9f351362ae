"""The dry-run explains the reconciliation: per person the identity, how and why, the login's origin,
and every unresolved conflict — in pseudonyms, never a name."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.pipeline import do_plan
from ent_migrate.pipeline.runner import open_run
from tests.pipeline._helpers import context, district, fill
from tests.pipeline.test_reconcile import _pupil

BORN = dt.date(2014, 1, 1)


def _plan(tmp_path: Path) -> tuple[Any, dict[str, dict[str, str]], dict[str, Any], str]:
    store = MemoryConnector.named_store("src")
    fill(store, district(pupils=3))
    extra = [
        _pupil("dup-p0", "N'DIAYE", "Eleve0", BORN, None),  # p0 again, no INE, no accents: a score join
        dataclasses.replace(_pupil("twin-p0", "N'Diaye", "Awa", BORN, "9999999999Z"), login="awa.old"),  # a twin
        _pupil("clash-p1", "Martin", "Hugo", dt.date(2013, 5, 5), "0000000001A"),  # p1's INE: a conflict
    ]
    fill(store, iter((p, None) for p in extra))
    ctx = context(tmp_path)
    run_id = open_run(ctx)
    folder = Path(do_plan(ctx, run_id)["report"]["dir"])
    text = (folder / "plan-report.csv").read_text("utf-8-sig")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    doc = json.loads((folder / "plan-report.json").read_text("utf-8"))
    everything = text + (folder / "plan-report.json").read_text("utf-8") + (folder / "plan-report.html").read_text()
    return ctx, rows, doc, everything


def test_each_person_says_identity_method_why_and_login(tmp_path: Path) -> None:
    ctx, rows, doc, _ = _plan(tmp_path)
    p = ctx.pseudonymize
    # Whichever of p0 and its duplicate is read first founds the identity; the other joins it by
    # score, and the report says which keys agreed.
    first, dup = sorted((rows[p("p0")], rows[p("dup-p0")]), key=lambda r: r["match"])
    assert (first["match"], first["identity"]) == ("new", first["id"])
    assert (dup["match"], dup["identity"]) == ("score", first["id"])
    assert dup["why"].startswith("score ")
    assert {"+last_name", "+first_name", "+birth_date"} <= set(dup["why"].split())
    twin = rows[p("twin-p0")]
    assert (twin["match"], twin["identity"]) == ("new", p("twin-p0"))
    assert rows[p("p1")]["login"] == "built"
    assert twin["login"] == "kept"  # her old login is valid and free
    # Non-people rows carry no match columns; every person of the source has one.
    assert rows["0801234G$CM1"]["match"] == ""
    people = [r for r in rows.values() if r["kind"] == "person" and r["status"] != "disable"]
    assert all(r["match"] in {"new", "ine", "jointure", "score", "decision"} for r in people)
    assert doc["matching"]["by_method"] == {"new": len(people) - 1, "score": 1}


def test_unresolved_conflicts_are_listed_in_pseudonyms(tmp_path: Path) -> None:
    ctx, _, doc, everything = _plan(tmp_path)
    p = ctx.pseudonymize
    [conflict] = doc["conflicts"]
    assert doc["matching"]["conflicts_total"] == 1
    assert conflict["reason"] == "ine_conflict"
    assert {conflict["person"], conflict["candidate"]} == {p("clash-p1"), p("p1")}
    assert "ine" in conflict["matched"].split()
    assert 'id="identites"' in everything  # the HTML page has the section
    for personal in ("Diaye", "DIAYE", "Hugo", "Martin", "Awa", "awa.old", "0000000001A", "9999999999Z", "Eleve"):
        assert personal not in everything, personal


def test_a_decided_conflict_leaves_the_list_and_a_merge_is_said(tmp_path: Path) -> None:
    ctx, _, _, _ = _plan(tmp_path)
    [entry] = ctx.state.review.entries()
    ctx.state.review.decide({entry["id"]: "merge"})
    ctx.state.review.merge(entry["source"], entry["person_key"], entry["candidate_key"])
    run_id = open_run(ctx)
    folder = Path(do_plan(ctx, run_id)["report"]["dir"])
    doc = json.loads((folder / "plan-report.json").read_text("utf-8"))
    assert doc["conflicts"] == []
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO((folder / "plan-report.csv").read_text("utf-8-sig")))}
    merged = rows[ctx.pseudonymize(entry["person_key"])]
    assert merged["match"] == "decision"
    assert merged["identity"] == ctx.pseudonymize(entry["candidate_key"])
    assert merged["why"].startswith("reviewer: merge")
