"""Correlation: each incoming person against the people already known, through blocking keys.

Scoring all pairs is quadratic; instead each person yields a few blocking keys and only people
sharing a key are scored: the INE, the jointure, each folded name (last, birth, and first name for
the swapped case) with the birth date, and for a guardian (no birth date) each child's INE and the
folded full name. Twins, homonyms and swapped names share a key, so they are scored and told apart
by the score; a name spelt with and without accents folds to the same key.

The result is order-independent: candidates are ranked by score then key, and a person with two or
more candidates at or above ``accept`` is ambiguous and goes to review rather than to the first one.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator

from ent_migrate.matching.normalise import compact
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

__all__ = ["Candidate", "Correlation", "Correlator", "block_keys"]


def block_keys(facts: PersonFacts) -> tuple[str, ...]:
    """The blocking keys of one person (plain text; the state store keeps keyed digests of them)."""
    keys: set[str] = set()
    if facts.ine:
        keys.add("ine:" + facts.ine)
    if facts.jointure:
        keys.add("j:" + facts.jointure)
    names = {compact(n) for n in (facts.last_name, facts.birth_name or "", facts.first_name)} - {""}
    if facts.birth_date:
        born = facts.birth_date.isoformat()
        keys.update(f"nb:{name}|{born}" for name in names)
    else:
        first, last = compact(facts.first_name), compact(facts.last_name)
        # Without a birth date, the full name either way round (swapped) is the key.
        keys.update(f"n:{x}|{y}" for x, y in {tuple(sorted((first, last)))} if x or y)
        if facts.birth_name:
            keys.add("n:" + "|".join(sorted((first, compact(facts.birth_name)))))
    keys.update("c:" + ine for ine in facts.children_ines)
    return tuple(sorted(keys))


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    explanation: MatchExplanation


@dataclasses.dataclass(frozen=True, slots=True)
class Correlation:
    """The answer for one incoming person: ``match`` (``identity`` is set), ``review`` (ambiguous or
    in the review band; ``candidates`` says which), or ``new``."""

    key: str
    decision: str  # "match" | "review" | "new"
    identity: str | None
    candidates: tuple[Candidate, ...]
    reason: str  # "unique", "ambiguous", "review_band", "ine_conflict", "no_candidate"


class Correlator:
    """An index of known people by blocking key; :meth:`correlate` scores an incoming person against
    the people sharing a key with it."""

    def __init__(self, known: Iterable[PersonFacts] = (), weights: Weights = DEFAULT_WEIGHTS) -> None:
        self.weights = weights
        self._index: dict[str, list[str]] = defaultdict(list)
        self._facts: dict[str, PersonFacts] = {}
        for facts in known:
            self.add(facts)

    def add(self, facts: PersonFacts) -> None:
        """Index *facts*; a key added again is replaced (an identity whose facts grew: a guardian's
        children), its new blocking keys added to the old ones."""
        old = self._facts.get(facts.key)
        self._facts[facts.key] = facts
        blocks = block_keys(facts)
        if old is not None:  # rare (a grown identity): the common add skips the set difference
            had = set(block_keys(old))
            blocks = tuple(b for b in blocks if b not in had)
        for block in blocks:
            self._index[block].append(facts.key)

    def candidates(self, facts: PersonFacts) -> list[PersonFacts]:
        seen = {k for block in block_keys(facts) for k in self._index.get(block, ())} - {facts.key}
        return [self._facts[k] for k in sorted(seen)]

    def correlate(self, facts: PersonFacts) -> Correlation:
        scored = [Candidate(o.key, score(facts, o, self.weights)) for o in self.candidates(facts)]
        kept = sorted(
            (c for c in scored if c.explanation.decision != NONE), key=lambda c: (-c.explanation.score, c.key)
        )
        matches = [c for c in kept if c.explanation.decision == MATCH]
        if len(matches) == 1 and not [
            c for c in kept if c.explanation.decision == REVIEW and "ine" in c.explanation.matched
        ]:
            return Correlation(facts.key, MATCH, matches[0].key, tuple(kept), "unique")
        if len(matches) > 1:
            return Correlation(facts.key, REVIEW, None, tuple(kept), "ambiguous")
        if kept:
            reason = "ine_conflict" if any("ine" in c.explanation.matched for c in kept) else "review_band"
            return Correlation(facts.key, REVIEW, None, tuple(kept), reason)
        return Correlation(facts.key, "new", None, (), "no_candidate")

    def correlate_all(self, incoming: Iterable[PersonFacts]) -> Iterator[Correlation]:
        for facts in incoming:
            yield self.correlate(facts)
