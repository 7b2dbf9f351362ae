"""Scoring one pair of people: an explained score and a decision.

The score is a sum of weights, one per key that matched (plus) or differed (minus), so a reader of
the review queue sees why: ``matched=("last_name", "first_name", "birth_date")``,
``differed=("ine",)``. Keys that one side lacks (no INE in ONDE, no birth date for a guardian) count
neither way. Two rules override the sum because a wrong automatic answer there is what project
leads fear most: the same INE on two people who otherwise disagree is a conflict sent to review
(never ignored, never merged), and two different profiles never match (but a teacher and a
member of staff may: the sources disagree on documentalistes and CPE).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from ent_migrate.matching.normalise import compact, name_tokens

__all__ = ["DEFAULT_WEIGHTS", "MATCH", "NONE", "REVIEW", "MatchExplanation", "PersonFacts", "Weights", "score"]

MATCH, REVIEW, NONE = "match", "review", "none"
#: The one pair of different profiles that may be one person: AAF files a documentaliste or a CPE as a
#: teacher (PersEducNat), SIECLE/STS and the old ENTs as staff. Listed as differed, weighing nothing.
_STAFF = frozenset({"teacher", "staff"})


@dataclasses.dataclass(frozen=True, slots=True)
class PersonFacts:
    """What matching looks at for one person (from a source, or an account already on the target)."""

    key: str
    profile: str
    last_name: str
    first_name: str
    birth_name: str | None = None
    birth_date: dt.date | None = None
    ine: str | None = None
    jointure: str | None = None  # académie-prefixed (e.g. "ac-lyon:1234"); compared as given
    structures: tuple[str, ...] = ()
    #: a guardian's children, matched through them: the children's INEs, or (in the pipeline) the
    #: canonical ids of the children's identities, which a child without an INE has too
    children_ines: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # class names, shown to a reviewer; not scored
    # The school a pupil came from (SIECLE SCOLARITE_AN_DERNIER on the collège side, the current
    # école on the primary side): only the cycle-3 promotion sets it, so reconciliation scores are unchanged.
    school_of_origin: str | None = None

    @classmethod
    def from_payload(
        cls, key: str, payload: Mapping[str, Any], *, children_ines: tuple[str, ...] = (), jointure: str | None = None
    ) -> PersonFacts:
        """From a ``Person.to_dict()`` (as the state store keeps it); a kept identity's facts may
        hold the guardian's ``children`` and the académie ``jointure`` too."""
        born = payload.get("birth_date")
        birth_date = dt.date.fromisoformat(born) if isinstance(born, str) and born else None
        if isinstance(born, dt.date):
            birth_date = born
        return cls(
            key=key,
            profile=str(payload.get("profile") or ""),
            last_name=str(payload.get("last_name") or ""),
            first_name=str(payload.get("first_name") or ""),
            birth_name=payload.get("birth_name") or None,
            birth_date=birth_date,
            ine=payload.get("ine") or None,
            jointure=jointure or payload.get("jointure") or None,
            structures=tuple(payload.get("structures") or ()),
            children_ines=children_ines or tuple(payload.get("children") or ()),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Weights:
    """Weight per key (added when it matches, the ``*_differs`` ones when it differs) and thresholds:
    a score at or above ``accept`` is a match, at or above ``review`` goes to the review queue."""

    ine: float = 1.0
    ine_differs: float = -1.0
    jointure: float = 1.0
    jointure_differs: float = -0.4
    last_name: float = 0.3
    last_name_partial: float = 0.15  # one compound part in common ("Martin-Dupont" / "Martin")
    birth_name: float = 0.25  # usage name on one side is the birth name on the other
    last_name_differs: float = -0.3
    first_name: float = 0.3
    first_name_differs: float = -0.4
    swapped: float = 0.45  # first and last names swapped, instead of both name weights
    birth_date: float = 0.35
    birth_date_differs: float = -0.7
    structure: float = 0.1
    children: float = 0.5
    school_of_origin: float = 0.1
    school_of_origin_differs: float = 0.0  # a pupil may have changed école during the year
    accept: float = 0.9
    review: float = 0.5

    def __post_init__(self) -> None:
        if not self.review <= self.accept:
            raise ValueError(f"review threshold {self.review} is above accept threshold {self.accept}")


DEFAULT_WEIGHTS = Weights()


@dataclasses.dataclass(frozen=True, slots=True)
class MatchExplanation:
    score: float
    matched: tuple[str, ...]
    differed: tuple[str, ...]
    decision: str  # "match" | "review" | "none"


def _key(
    name: str, mine: object, theirs: object, hit: float, miss: float, matched: list[str], differed: list[str]
) -> float:
    """One key both sides have: *hit* and listed as matched when equal, *miss* and listed as differed
    when not; nothing when either side lacks it (absent is not different)."""
    if not (mine and theirs):
        return 0.0
    if mine == theirs:
        matched.append(name)
        return hit
    differed.append(name)
    return miss


def _names(a: PersonFacts, b: PersonFacts, w: Weights, matched: list[str], differed: list[str]) -> float:
    a_last, b_last, a_first, b_first = (
        compact(a.last_name),
        compact(b.last_name),
        compact(a.first_name),
        compact(b.first_name),
    )
    if a_last and a_last == b_first and a_first and a_first == b_last and a_last != a_first:
        matched.append("swapped")
        return w.swapped
    total = 0.0
    if a_last and a_last == b_last:
        matched.append("last_name")
        total += w.last_name
    elif (a.birth_name and compact(a.birth_name) in {b_last, compact(b.birth_name or "")}) or (
        b.birth_name and compact(b.birth_name) == a_last
    ):
        matched.append("birth_name")
        total += w.birth_name
    elif name_tokens(a.last_name) & name_tokens(b.last_name):
        matched.append("last_name_partial")
        total += w.last_name_partial
    elif a_last and b_last:
        differed.append("last_name")
        total += w.last_name_differs
    return total + _key("first_name", a_first, b_first, w.first_name, w.first_name_differs, matched, differed)


def score(a: PersonFacts, b: PersonFacts, weights: Weights = DEFAULT_WEIGHTS) -> MatchExplanation:
    """How alike *a* and *b* are, which keys matched and which differed, and the decision."""
    w = weights
    matched: list[str] = []
    differed: list[str] = []
    if a.profile and b.profile and a.profile != b.profile:
        if not _STAFF.issuperset((a.profile, b.profile)):
            return MatchExplanation(0.0, (), ("profile",), NONE)
        differed.append("profile")  # teacher here, staff there: one person, as the other keys say
    total = _key("ine", a.ine, b.ine, w.ine, w.ine_differs, matched, differed)
    total += _key("jointure", a.jointure, b.jointure, w.jointure, w.jointure_differs, matched, differed)
    total += _names(a, b, w, matched, differed)
    total += _key("birth_date", a.birth_date, b.birth_date, w.birth_date, w.birth_date_differs, matched, differed)
    if set(a.structures) & set(b.structures):
        matched.append("structure")
        total += w.structure
    if set(a.children_ines) & set(b.children_ines):
        matched.append("children")
        total += w.children
    origin, other = a.school_of_origin, b.school_of_origin
    total += _key("school_of_origin", origin, other, w.school_of_origin, w.school_of_origin_differs, matched, differed)
    total = round(total, 6)
    if total >= w.accept:
        decision = MATCH
    elif total >= w.review or "ine" in matched:
        decision = REVIEW  # the same INE on two people who disagree otherwise: a conflict, never ignored
    else:
        decision = NONE
    return MatchExplanation(total, tuple(matched), tuple(differed), decision)
