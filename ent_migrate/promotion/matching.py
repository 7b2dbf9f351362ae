"""CM2 → 6e matching on the reconciliation's explained score (ent_migrate.matching).

Exact INE first; else the 6e pupils sharing a blocking key with the CM2 pupil (folded name + birth
date, INE) are scored by :func:`ent_migrate.matching.score` on names, birth date and school of
origin (SIECLE ``SCOLARITE_AN_DERNIER`` against the pupil's école), and every answer carries the
keys that matched and differed. The promotion's policy on top of the shared decision is stricter
than the reconciliation's, because a pupil sent to the wrong collège takes its work to a stranger:
a match is automatic only when exactly one candidate reaches ``review`` and it reaches ``accept``;
two or more (twins, homonyms), one in the review band, or an INE whose names disagree go to review
and are never promoted automatically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ent_migrate.matching import (
    DEFAULT_WEIGHTS,
    MATCH,
    NONE,
    REVIEW,
    Correlator,
    MatchExplanation,
    PersonFacts,
    Weights,
    score,
)
from ent_migrate.model import Person

__all__ = ["Candidate", "MatchResult", "PromotionMatcher", "promotion_weights"]

# Primary and collège ids come from two systems and may coincide: the facts' keys keep them apart.
_PUPIL, _COLLEGE = "primary:", "college:"


def promotion_weights(match_score: int, review_score: int) -> Weights:
    """The shared weights with the thresholds of promotion.toml (hundredths of the shared score).

    A differing first name weighs nothing here: on the same last name, birth date and école it is
    a twin or a registrar's typo, and either way a human must look, so the sibling has to stay in
    the review band instead of being dismissed as the reconciliation would.
    """
    return dataclasses.replace(
        DEFAULT_WEIGHTS, first_name_differs=0.0, accept=match_score / 100, review=review_score / 100
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    person: Person
    origin_uai: str | None  # the school of the previous year, from SIECLE


@dataclasses.dataclass(frozen=True, slots=True)
class MatchResult:
    decision: str  # match | review | none
    target: Candidate | None
    method: str  # ine | names | none
    explanation: MatchExplanation | None  # the best-scored candidate's, even below the thresholds
    candidates: int = 0  # candidates at or above the review threshold
    runner_up: MatchExplanation | None = None  # the next one's: why a review (a twin's differing first name)

    @property
    def score(self) -> int:
        """The shared score in hundredths (the unit of match_score/review_score)."""
        return round(self.explanation.score * 100) if self.explanation is not None else 0

    def detail(self) -> dict[str, Any]:
        """What ``promote status --json`` and the report show: key names and counts, never a name."""
        out: dict[str, Any] = {"method": self.method, "decision": self.decision, **_keys(self.explanation)}
        out["candidates"] = self.candidates
        if self.runner_up is not None:
            out["runner_up"] = _keys(self.runner_up)
        return out


def _keys(e: MatchExplanation | None) -> dict[str, Any]:
    return {
        "score": round(e.score * 100) if e else 0,
        "matched": list(e.matched) if e else [],
        "differed": list(e.differed) if e else [],
    }


def _facts(key: str, person: Person, school_of_origin: str | None) -> PersonFacts:
    return PersonFacts(
        key=key,
        profile=person.profile.value,
        last_name=person.last_name,
        first_name=person.first_name,
        birth_name=person.birth_name,
        birth_date=person.birth_date,
        ine=person.ine,
        school_of_origin=school_of_origin,
    )


class PromotionMatcher:
    """The 6e pupils of one run, indexed by INE and by the shared blocking keys."""

    def __init__(self, candidates: Sequence[Candidate], *, match_score: int, review_score: int) -> None:
        self.weights = promotion_weights(match_score, review_score)
        self._cands: dict[str, tuple[Candidate, PersonFacts]] = {}
        self._by_ine: dict[str, list[str]] = {}
        for cand in candidates:
            facts = _facts(_COLLEGE + cand.person.id, cand.person, cand.origin_uai)
            self._cands[facts.key] = (cand, facts)
            if cand.person.ine:
                self._by_ine.setdefault(cand.person.ine, []).append(facts.key)
        self._index = Correlator((f for _c, f in self._cands.values()), self.weights)

    def match(self, pupil: Person, school_uai: str) -> MatchResult:
        facts = _facts(_PUPIL + pupil.id, pupil, school_uai)
        same_ine = self._by_ine.get(pupil.ine or "", [])
        if len(same_ine) == 1:
            cand, other = self._cands[same_ine[0]]
            e = score(facts, other, self.weights)
            if e.decision == MATCH:
                return MatchResult(MATCH, cand, "ine", e, 1)
            # the same INE on a pupil whose names and birth date disagree: a conflict, never ignored
            return MatchResult(REVIEW, None, "ine", e, 1)
        scored = sorted(
            ((score(facts, self._cands[key][1], self.weights), key) for key in self._blocked(facts)),
            key=lambda x: (-x[0].score, x[1]),
        )
        kept = [(e, key) for e, key in scored if e.decision != NONE]
        best = scored[0][0] if scored else None
        if len(same_ine) > 1 or len(kept) > 1 or (kept and kept[0][0].decision != MATCH):
            runner_up = kept[1][0] if len(kept) > 1 else None
            return MatchResult(REVIEW, None, "names", best, max(len(kept), len(same_ine)), runner_up)
        if kept:
            return MatchResult(MATCH, self._cands[kept[0][1]][0], "names", best, 1)
        return MatchResult(NONE, None, "none", best, 0)

    def _blocked(self, facts: PersonFacts) -> list[str]:
        return [other.key for other in self._index.candidates(facts)]
