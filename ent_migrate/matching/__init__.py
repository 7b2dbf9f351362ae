"""Matching people across sources and the target: normalise, score, correlate, review.

The API the pipeline (reconcile) and the cycle promotion code against::

    fold_name(text) -> str
    PersonFacts(key, profile, last_name, first_name, birth_name, birth_date, ine, jointure,
                structures, children_ines, classes); PersonFacts.from_payload(key, person_dict)
    Weights(...), DEFAULT_WEIGHTS; score(a, b, weights) -> MatchExplanation(score, matched, differed, decision)
    Correlator(known, weights).correlate(facts) -> Correlation(key, decision, identity, candidates, reason)
"""

from __future__ import annotations

from ent_migrate.matching.correlate import PROFILE_GROUPS, Candidate, Correlation, Correlator, block_keys, probe_keys
from ent_migrate.matching.normalise import PARTICLES, compact, fold_ascii, fold_name, name_tokens
from ent_migrate.matching.review import (
    DECISIONS,
    REVIEW_COLUMNS,
    ReviewDecision,
    ReviewError,
    ReviewItem,
    read_review_csv,
    review_id,
    write_review_csv,
)
from ent_migrate.matching.score import (
    DEFAULT_WEIGHTS,
    MATCH,
    NONE,
    REVIEW,
    MatchExplanation,
    PersonFacts,
    Weights,
    score,
)

__all__ = [
    "DECISIONS",
    "DEFAULT_WEIGHTS",
    "MATCH",
    "NONE",
    "PARTICLES",
    "PROFILE_GROUPS",
    "REVIEW",
    "REVIEW_COLUMNS",
    "Candidate",
    "Correlation",
    "Correlator",
    "MatchExplanation",
    "PersonFacts",
    "ReviewDecision",
    "ReviewError",
    "ReviewItem",
    "Weights",
    "block_keys",
    "compact",
    "fold_ascii",
    "fold_name",
    "name_tokens",
    "probe_keys",
    "read_review_csv",
    "review_id",
    "score",
    "write_review_csv",
]
