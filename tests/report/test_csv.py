"""The CSV report: BOM, CRLF, RFC 4180 quoting, both delimiters, formula-injection guard."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.errors import ConfigError
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportItem, write_reports
from ent_migrate.report.writers import CSV_HEADER, csv_cell
from tests.report._helpers import make_data, read_csv, verify_items


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_csv_parses_back_one_row_per_item(tmp_path: Path, pseudo: Pseudonymizer, delimiter: str) -> None:
    items = verify_items()
    write_reports(make_data(items), tmp_path, pseudo, csv_delimiter=delimiter)
    raw = (tmp_path / "verify-report.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + delimiter.join(CSV_HEADER).encode() + b"\r\n")
    assert raw.count(b"\r\n") == len(items) + 1
    assert b"\n" not in raw.replace(b"\r\n", b"")
    rows = read_csv(tmp_path / "verify-report.csv", delimiter)
    assert len(rows) == len(items)
    assert [r["status"] for r in rows] == ["same", "same", "same", "missing", "extra", "differs", "error", "missing"]
    # The mark column keeps the verify mark, guarded so that a spreadsheet shows it as text.
    assert [r["mark"] for r in rows] == ["'=", "'=", "'=", "'+", "'-", "*", "!", "'+"]
    assert rows[3]["id"] == pseudo("ine:070123457AB")
    assert rows[1]["id"] == "0750001A$3A"
    # A reason holding the delimiter is quoted, not split.
    assert rows[5]["reason"] == "fields differ: given_name, emails"
    assert rows[5]["profile"] == "guardian"
    assert rows[5]["uai"] == "0750002B"


def test_plan_csv_has_words_and_empty_marks(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [ReportItem("person", "ine:1", "create"), ReportItem("person", "ine:2", "delete", "-left")]
    write_reports(make_data(items, kind="plan"), tmp_path, pseudo, csv_delimiter=";")
    rows = read_csv(tmp_path / "plan-report.csv", ";")
    assert [(r["status"], r["mark"]) for r in rows] == [("create", ""), ("delete", "")]
    assert rows[1]["reason"] == "'-left"  # a reason starting with "-" would be a formula


@pytest.mark.parametrize("value", ["=1+1", "+33 1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_guarded(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", "same", "p:0a1b", "0750001A$3A", "a=b", "'="])
def test_plain_cells_are_untouched(value: str) -> None:
    assert csv_cell(value) == value


def test_bad_delimiter_is_a_config_error(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    with pytest.raises(ConfigError, match="delimiter"):
        write_reports(make_data(verify_items()), tmp_path, pseudo, csv_delimiter="\t")


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.sampled_from(["person", "group", "message"]), _text, _text, _text), max_size=15),
    delimiter=st.sampled_from([",", ";"]),
)
def test_any_text_round_trips_through_the_csv(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str, str]], delimiter: str
) -> None:
    """Whatever the keys, reasons and UAIs hold (quotes, delimiters, newlines), one item is one row."""
    out = tmp_path_factory.mktemp("csv")
    pseudo = Pseudonymizer(b"k".ljust(16, b"."))
    items = [ReportItem(kind, key, "*", reason, uai or None) for kind, key, reason, uai in rows]
    write_reports(make_data(items), out, pseudo, csv_delimiter=delimiter, json_cap=len(items))
    text = (out / "verify-report.csv").read_bytes().decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    listed = json.loads((out / "verify-report.json").read_text("utf-8"))["lists"].get("*", [])
    assert parsed[0] == list(CSV_HEADER)
    assert len(parsed) == len(items) + 1
    for item, row, entry in zip(items, parsed[1:], listed, strict=True):
        assert len(row) == len(CSV_HEADER)
        if item.kind != "group":
            assert row[1] == pseudo(item.key)
        assert row[2] == "differs"
        # The CSV says what the JSON says, cell for cell, behind the formula guard.
        assert [row[1], row[4], row[5]] == [
            csv_cell(entry["id"]),
            csv_cell(entry["reason"]),
            csv_cell(entry["uai"] or ""),
        ]
        assert not row[4].startswith(("=", "+", "-", "@"))
