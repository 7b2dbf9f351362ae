"""The JSON report: shape, pseudonyms, capped lists with exact counts, one pass over the items."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ent_migrate.errors import ConfigError
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportItem, WrittenReport, write_reports
from tests.report._helpers import OnceIterable, make_data, verify_items

TOP_KEYS = [
    "kind",
    "verdict",
    "revision",
    "key_id",
    "input_errors",
    "accepted_input_errors",
    "refusal",
    "plan_digest",
    "run_id",
    "created_at",
    "source",
    "target",
    "counts",
    "counts_by_kind",
    "counts_by_school",
    "problems",
    "thresholds",
    "rows",
    "rows_by_status",
    "lists",
    "truncated",
    "unread",
    "unread_total",
]


def test_files_and_json_shape(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    data = make_data(verify_items())
    written = write_reports(data, tmp_path, pseudo)
    assert isinstance(written, WrittenReport)
    assert [p.name for p in written.paths] == [
        "verify-report.json",
        "verify-report.csv",
        "verify-report.html",
        "SHA256SUMS",
    ]
    assert all(p.parent == tmp_path and p.is_file() for p in written.paths)
    doc = json.loads((tmp_path / "verify-report.json").read_text("utf-8"))
    assert list(doc) == TOP_KEYS
    assert doc["kind"] == "verify"
    assert doc["created_at"] == "2026-11-25T10:00:00Z"
    assert doc["counts"] == {"=": 3, "+": 2, "-": 1, "*": 1, "!": 1}
    assert doc["counts_by_school"]["0750001A"]["student"] == 412
    assert doc["problems"][0]["examples"] == ["Eleve_0000.xml:120"]
    assert doc["thresholds"] == {"max_deletions": 50, "max_deletion_ratio": 0.05}
    assert doc["rows"] == 8
    # Only differences are listed, marks in the usual order; "=" is counted but never listed.
    assert list(doc["lists"]) == ["+", "-", "*", "!"]
    assert doc["truncated"] == {}
    missing = doc["lists"]["+"]
    assert missing[0] == {
        "kind": "person",
        "id": pseudo("ine:070123457AB"),
        "reason": "missing on target",
        "uai": "0750001A",
        "profile": "student",
    }
    assert missing[1]["id"] == "0750002B$5C"  # a group key is not personal: it stays readable
    assert doc["lists"]["!"][0]["id"] == pseudo("ine:070123456AB|0750001A$3A")  # membership: whole key
    assert doc["lists"]["!"][0]["reason"] == "TimeoutError"
    assert written.digest == hashlib.sha256((tmp_path / "SHA256SUMS").read_bytes()).hexdigest()


def test_plan_report_lists_operations_not_skips(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [
        ReportItem("person", "ine:1", "create", "new", "0750001A", "student"),
        ReportItem("person", "ine:2", "skip", "unchanged", "0750001A", "student"),
        ReportItem("person", "ine:3", "delete", "left: pupil.left", "0750001A", "student"),
        ReportItem("person", "ine:4", "invalid", "record.missing-field: birth_date", "0750001A", "student"),
    ]
    written = write_reports(make_data(items, kind="plan"), tmp_path, pseudo)
    assert written.paths[0].name == "plan-report.json"
    doc = json.loads(written.paths[0].read_text("utf-8"))
    assert list(doc["lists"]) == ["create", "delete", "invalid"]
    assert doc["rows_by_status"] == {"create": 1, "delete": 1, "skip": 1, "invalid": 1}
    assert doc["lists"]["invalid"][0]["reason"] == "record.missing-field: birth_date"


def test_truncation_keeps_exact_counts(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [ReportItem("person", f"ine:{i:011d}", "+", "missing on target") for i in range(250)]
    items += [ReportItem("person", f"aaf:{i}", "*", "fields differ: sn") for i in range(7)]
    items += [ReportItem("person", f"same:{i}", "=") for i in range(1000)]
    data = make_data(items)
    write_reports(data, tmp_path, pseudo, json_cap=100, html_cap=10)
    doc = json.loads((tmp_path / "verify-report.json").read_text("utf-8"))
    assert len(doc["lists"]["+"]) == 100
    assert len(doc["lists"]["*"]) == 7
    assert doc["truncated"] == {"+": 150}
    assert doc["counts"] == {"+": 250, "*": 7, "=": 1000}
    assert doc["rows"] == 1257
    assert doc["rows_by_status"]["+"] == 250
    # Stream order is kept: the first items are the ones listed.
    assert doc["lists"]["+"][0]["id"] == pseudo("ine:00000000000")
    html = (tmp_path / "verify-report.html").read_text("utf-8")
    assert "et 240 de plus — voir le CSV" in html
    assert html.count(pseudo("ine:00000000009")) == 1
    assert pseudo("ine:00000000010") not in html


def test_items_are_iterated_once(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    data = make_data(verify_items())
    assert isinstance(data.items, OnceIterable)
    write_reports(data, tmp_path, pseudo)
    assert data.items.iterations == 1


def test_a_generator_of_items_is_enough(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    data = make_data([])
    data.items = (ReportItem("person", f"k{i}", "+" if i % 3 else "=") for i in range(3000))
    write_reports(data, tmp_path, pseudo, json_cap=5)
    doc = json.loads((tmp_path / "verify-report.json").read_text("utf-8"))
    assert doc["rows_by_status"] == {"=": 1000, "+": 2000}
    assert doc["truncated"] == {"+": 1995}


@pytest.mark.parametrize("kind", ["../evil", "Plan", "", "plan report"])
def test_bad_report_kind_is_a_config_error(tmp_path: Path, pseudo: Pseudonymizer, kind: str) -> None:
    with pytest.raises(ConfigError, match="report kind"):
        write_reports(make_data([], kind=kind), tmp_path, pseudo)
    assert list(tmp_path.iterdir()) == []


def test_unknown_status_is_listed_after_known_ones(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [ReportItem("person", "k1", "weird"), ReportItem("person", "k2", "+")]
    write_reports(make_data(items), tmp_path, pseudo)
    doc = json.loads((tmp_path / "verify-report.json").read_text("utf-8"))
    assert list(doc["lists"]) == ["+", "weird"]
