"""The review queue as CSV: exported for a person to decide, imported back as decisions.

A row is one (person, candidate) pair. It carries pseudonyms (the run's keyed Pseudonymizer), never
a name, an INE or a login, but enough for a person with access to the source tools to decide:
the profile, initials, birth year, the schools (UAI, not personal) and classes of both sides,
the score, which keys matched and which differed, and why it was not decided automatically. The
data controller, who holds the key, can tie a pseudonym back to a record; the reviewer fills
``decision`` with ``merge`` or ``distinct``. A bad row on import is named by file and line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from ent_migrate.errors import EntMigrateError
from ent_migrate.matching.normalise import fold_name
from ent_migrate.matching.score import MatchExplanation, PersonFacts

__all__ = [
    "DECISIONS",
    "REVIEW_COLUMNS",
    "ReviewDecision",
    "ReviewError",
    "ReviewItem",
    "read_review_csv",
    "review_id",
    "write_review_csv",
]

DECISIONS = ("distinct", "merge")
REVIEW_COLUMNS = (
    "review_id",
    "person",
    "candidate",
    "profile",
    "reason",
    "score",
    "matched",
    "differed",
    "person_initials",
    "candidate_initials",
    "person_birth_year",
    "candidate_birth_year",
    "person_schools",
    "candidate_schools",
    "person_classes",
    "candidate_classes",
    "decision",
)


class ReviewError(EntMigrateError, ValueError):
    """A review CSV that cannot be read back: names the file and line (the CLI prints it, exit 2)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReviewItem:
    person: PersonFacts
    candidate: PersonFacts
    explanation: MatchExplanation
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class ReviewDecision:
    review_id: str
    decision: str  # "merge" | "distinct"
    line: int


def review_id(pseudonym: Callable[[str], str], person_key: str, candidate_key: str) -> str:
    """The pair's pseudonym, the same whichever side is the person."""
    return pseudonym("review|" + "|".join(sorted((person_key, candidate_key))))


def _initials(facts: PersonFacts) -> str:
    return "".join(w[:1].upper() for w in (fold_name(facts.first_name), fold_name(facts.last_name)) if w)


def write_review_csv(items: Iterable[ReviewItem], pseudonym: Callable[[str], str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for item in items:
        p, c, e = item.person, item.candidate, item.explanation
        writer.writerow(
            [
                review_id(pseudonym, p.key, c.key),
                pseudonym(p.key),
                pseudonym(c.key),
                p.profile,
                item.reason,
                f"{e.score:.3f}",
                " ".join(e.matched),
                " ".join(e.differed),
                _initials(p),
                _initials(c),
                p.birth_date.year if p.birth_date else "",
                c.birth_date.year if c.birth_date else "",
                " ".join(p.structures),
                " ".join(c.structures),
                " ".join(p.classes),
                " ".join(c.classes),
                "",
            ]
        )
    return out.getvalue()


def read_review_csv(path: Path) -> list[ReviewDecision]:
    """The filled rows (an empty decision is still undecided and left out)."""
    # A device or a fifo (/dev/zero) would be read for ever: only a regular file is a review file.
    if not path.is_file():
        raise ReviewError(f"{path}: not a regular file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # a spreadsheet may add a BOM
            return _decisions(path, handle)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReviewError(f"{path}: cannot read the review file ({type(exc).__name__})") from exc


def _decisions(path: Path, handle: IO[str]) -> list[ReviewDecision]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or "review_id" not in header or "decision" not in header:
        raise ReviewError(f"{path}:1: not a review file (needs the columns review_id and decision)")
    rid, dec = header.index("review_id"), header.index("decision")
    decisions: list[ReviewDecision] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(rid, dec):
            raise ReviewError(f"{path}:{line}: the row has {len(row)} columns, fewer than the header")
        value = row[dec].strip().lower()
        if not value:
            continue
        if value not in DECISIONS:
            raise ReviewError(f"{path}:{line}: decision {row[dec]!r} is not one of {', '.join(DECISIONS)}")
        ident = row[rid].strip()
        if ident in seen:
            raise ReviewError(f"{path}:{line}: review_id already decided on line {seen[ident]}")
        seen[ident] = line
        decisions.append(ReviewDecision(ident, value, line))
    return decisions
