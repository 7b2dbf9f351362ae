from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from ent_migrate.matching import (
    REVIEW_COLUMNS,
    PersonFacts,
    ReviewError,
    ReviewItem,
    read_review_csv,
    review_id,
    score,
    write_review_csv,
)
from ent_migrate.privacy import Pseudonymizer

P = Pseudonymizer(b"k" * 32)
A = PersonFacts(
    "s-1",
    "student",
    "Simon",
    "Emma",
    birth_date=dt.date(2013, 6, 6),
    ine="0000000001A",
    structures=("0690001A",),
    classes=("6A",),
)
B = PersonFacts("t-1", "student", "Simon", "Emma", birth_date=dt.date(2013, 6, 6), structures=("0690002B",))


def _export() -> str:
    return write_review_csv([ReviewItem(A, B, score(A, B), "ambiguous")], P)


def test_export_carries_facts_to_decide_but_no_names_or_ine() -> None:
    text = _export()
    for secret in ("Simon", "Emma", "SIMON", "0000000001A", "s-1", "t-1"):
        assert secret not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert tuple(row) == REVIEW_COLUMNS
    assert row["person"] == P("s-1")
    assert row["review_id"] == review_id(P, "t-1", "s-1")
    assert (row["person_initials"], row["person_birth_year"], row["person_schools"], row["person_classes"]) == (
        "ES",
        "2013",
        "0690001A",
        "6A",
    )
    assert row["matched"] == "last_name first_name birth_date"
    assert row["reason"] == "ambiguous"


def test_import_reads_decisions_back(tmp_path: Path) -> None:
    text = _export().replace(",\n", ",Merge\n", 1)
    path = tmp_path / "review.csv"
    path.write_text(text, encoding="utf-8")
    [decision] = read_review_csv(path)
    assert (decision.review_id, decision.decision, decision.line) == (review_id(P, "s-1", "t-1"), "merge", 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("review_id,decision\nr1,perhaps\n", r"review\.csv:2: decision 'perhaps'"),
        ("review_id,decision\nr1,merge\nr1,distinct\n", r"review\.csv:3: review_id already decided on line 2"),
        ("name,score\n", r"review\.csv:1: not a review file"),
    ],
)
def test_bad_import_names_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "review.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ReviewError, match=message):
        read_review_csv(path)
