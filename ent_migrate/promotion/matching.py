"""CM2 → 6e matching: exact INE first, then names + birth date + school of origin, explained.

The fallback's score is out of 100: last name 35, first name 25, birth date 30, school of origin
(SIECLE ``SCOLARITE_AN_DERNIER``) 10. A single candidate at or above ``match_score`` is a match; two
or more candidates at or above ``review_score`` (twins, homonyms), or one between the two scores, go
to review and are never promoted automatically.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping, Sequence

from ent_migrate.model import Person

__all__ = ["Candidate", "MatchResult", "fold_name", "match_pupil", "score"]


def fold_name(text: str) -> str:
    """Case, accents, hyphens and spaces folded: "Lé-Anne" == "LEANNE"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum()).upper()


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    person: Person
    origin_uai: str | None  # the school of the previous year, from SIECLE


@dataclasses.dataclass(frozen=True, slots=True)
class MatchResult:
    decision: str  # match | review | none
    target: Candidate | None
    score: int
    method: str  # ine | names | none
    matched: tuple[str, ...] = ()
    candidates: int = 0


def score(pupil: Person, school_uai: str, cand: Candidate) -> tuple[int, tuple[str, ...]]:
    other = cand.person
    total, matched = 0, list[str]()
    names = {fold_name(other.last_name), fold_name(other.birth_name or other.last_name)}
    if fold_name(pupil.last_name) in names or fold_name(pupil.birth_name or "") in names:
        total, matched = total + 35, [*matched, "last_name"]
    if fold_name(pupil.first_name) == fold_name(other.first_name):
        total, matched = total + 25, [*matched, "first_name"]
    if pupil.birth_date is not None and pupil.birth_date == other.birth_date:
        total, matched = total + 30, [*matched, "birth_date"]
    if cand.origin_uai is not None and cand.origin_uai == school_uai:
        total, matched = total + 10, [*matched, "school_of_origin"]
    return total, tuple(matched)


def match_pupil(
    pupil: Person,
    school_uai: str,
    by_ine: Mapping[str, Candidate],
    candidates: Sequence[Candidate],
    *,
    match_score: int,
    review_score: int,
) -> MatchResult:
    if pupil.ine and pupil.ine in by_ine:
        return MatchResult("match", by_ine[pupil.ine], 100, "ine", ("ine",), 1)
    scored = []
    for cand in candidates:
        if pupil.ine and cand.person.ine and cand.person.ine != pupil.ine:
            continue  # two different INE are two different pupils, whatever their names
        s, matched = score(pupil, school_uai, cand)
        if s >= review_score:
            scored.append((s, matched, cand))
    scored.sort(key=lambda x: (-x[0], x[2].person.id))
    if not scored:
        return MatchResult("none", None, 0, "none")
    best, matched, cand = scored[0]
    if len(scored) > 1 or best < match_score:
        return MatchResult("review", None, best, "names", matched, len(scored))
    return MatchResult("match", cand, best, "names", matched, 1)
