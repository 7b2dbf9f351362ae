"""Builders shared by the report tests: small plan and verify runs with realistic-looking keys."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from ent_migrate.report import ReportData, ReportItem

RUN_AT = "2026-11-25T10:00:00Z"


class OnceIterable:
    """An iterable that fails if iterated twice, as a generator over millions of rows would."""

    def __init__(self, items: Iterable[ReportItem]) -> None:
        self._items = list(items)
        self.iterations = 0

    def __iter__(self) -> Iterator[ReportItem]:
        self.iterations += 1
        if self.iterations > 1:
            raise AssertionError("report items iterated twice")
        return iter(self._items)


def verify_items() -> list[ReportItem]:
    return [
        ReportItem("structure", "0750001A", "="),
        ReportItem("group", "0750001A$3A", "=", uai="0750001A"),
        ReportItem("person", "ine:070123456AB", "=", uai="0750001A", profile="student"),
        ReportItem("person", "ine:070123457AB", "+", "missing on target", uai="0750001A", profile="student"),
        ReportItem("person", "aaf:P1234", "-", "only on target", uai="0750001A", profile="teacher"),
        ReportItem("person", "aaf:G77", "*", "fields differ: given_name, emails", uai="0750002B", profile="guardian"),
        ReportItem("membership", "ine:070123456AB|0750001A$3A", "!", "TimeoutError", uai="0750001A"),
        ReportItem("group", "0750002B$5C", "+", "missing on target", uai="0750002B"),
    ]


def counts_of(items: Iterable[ReportItem]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    counts: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
        per = by_kind.setdefault(item.kind, {})
        per[item.status] = per.get(item.status, 0) + 1
    return counts, by_kind


def make_data(items: Iterable[ReportItem], kind: str = "verify", **overrides: object) -> ReportData:
    materialised = list(items)
    counts, by_kind = counts_of(materialised)
    fields: dict[str, object] = {
        "kind": kind,
        "run_id": "run-20261125-0001",
        "created_at": RUN_AT,
        "source": "siecle:exports/0750001A",
        "target": "memory:district",
        "counts": counts,
        "counts_by_kind": by_kind,
        "counts_by_school": {
            "0750001A": {"student": 412, "teacher": 38, "guardian": 690, "staff": 12},
            "0750002B": {"student": 250, "guardian": 401, "teacher": 21},
        },
        "items": OnceIterable(materialised),
        "problems": [{"code": "ine.missing", "severity": "warning", "count": 3, "examples": ["Eleve_0000.xml:120"]}],
        "thresholds": {"max_deletions": 50, "max_deletion_ratio": 0.05},
        # What the pipeline computes: differences in a verify, a plan ready to apply.
        "verdict": ("differences" if any(m in counts for m in "+-*!") else "complete") if kind == "verify" else "ready",
    }
    fields.update(overrides)
    return ReportData(**fields)  # type: ignore[arg-type]  # the test builds the fields dynamically


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter))
