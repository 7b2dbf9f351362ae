"""docs/problems.md and PROBLEM_CODES list the same codes, with the same severities."""

from __future__ import annotations

import re
from pathlib import Path

from ent_migrate.problems import PROBLEM_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


def documented() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    sections = re.split(r"^## `([^`]+)`\s*$", text, flags=re.M)[1:]
    out = {}
    for code, body in zip(sections[::2], sections[1::2], strict=True):
        severity = re.search(r"\*\*Severity\*\*: (\w+)", body)
        assert severity is not None, f"docs/problems.md: {code} has no severity"
        for part in ("**Meaning**", "**Example**", "**What to do**"):
            assert part in body, f"docs/problems.md: {code} has no {part}"
        out[code] = severity.group(1)
    return out


def test_docs_and_vocabulary_list_the_same_codes() -> None:
    docs = documented()
    assert sorted(docs) == sorted(PROBLEM_CODES)
    assert {code: str(sev) for code, (sev, _) in PROBLEM_CODES.items()} == docs
