"""Correlation: each incoming person against the people already known, through blocking keys.

Scoring all pairs is quadratic; instead each person yields a few blocking keys and only people
sharing a key are scored: the INE, the jointure, each folded name (last, birth, and first name for
the swapped case) with the birth date, and for a guardian (no birth date) each child's INE and the
folded full name. Twins, homonyms and swapped names share a key, so they are scored and told apart
by the score; a name spelt with and without accents folds to the same key.

A person is *stored* under :func:`block_keys` and *looks* for others under :func:`probe_keys`; the two
differ only where one side has a birth date and the other has not (ONDE's teachers, an old ENT's
directory): a pupil or a member of staff with a birth date is also stored under ``d:`` (profile group
and full name, no date) and looks under ``u:``, one without is stored under ``u:`` and looks under
``d:``. So they meet without every dated person meeting every dated namesake. Guardians, who never
carry a birth date in SIECLE and ONDE but do in AAF, keep meeting through their children only: the
namesakes of a common name across an académie are too many to score.

The result is order-independent: candidates are ranked by score then key, and a person with two or
more candidates at or above ``accept`` is ambiguous and goes to review rather than to the first one.
"""

from __future__ import annotations

import dataclasses
import functools
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

__all__ = ["PROFILE_GROUPS", "Candidate", "Correlation", "Correlator", "block_keys", "probe_keys"]


#: Profiles that may be one person in two sources: AAF makes a documentaliste or a CPE a teacher
#: (PersEducNat with a teaching function), SIECLE/STS and the old ENTs make them staff.
PROFILE_GROUPS = {"teacher": "staff", "staff": "staff", "student": "student", "guardian": "guardian"}


def _names(facts: PersonFacts) -> tuple[str, str, str]:
    return compact(facts.first_name), compact(facts.last_name), compact(facts.birth_name or "")


def _full_names(first: str, last: str, birth: str) -> set[str]:
    """The folded full name either way round (swapped), and with the birth name."""
    out = {"|".join(sorted((first, last)))} if first or last else set()
    if birth:
        out.add("|".join(sorted((first, birth))))
    return out


def _shared_keys(facts: PersonFacts) -> set[str]:
    keys: set[str] = set()
    if facts.ine:
        keys.add("ine:" + facts.ine)
    if facts.jointure:
        keys.add("j:" + facts.jointure)
    first, last, birth = _names(facts)
    if facts.birth_date:
        born = facts.birth_date.isoformat()
        keys.update(f"nb:{name}|{born}" for name in {first, last, birth} - {""})
    else:
        keys.update("n:" + name for name in _full_names(first, last, birth))
    keys.update("c:" + ine for ine in facts.children_ines)
    return keys


def _dated_side(facts: PersonFacts, stored: bool) -> set[str]:
    """The keys that let a person with a birth date and one without meet (see the module docstring):
    ``d:`` and ``u:`` swap between what a person is stored under and what it looks for."""
    group = PROFILE_GROUPS.get(facts.profile)
    if group is None or group == "guardian":
        return set()
    prefix = "d:" if (facts.birth_date is not None) == stored else "u:"
    return {f"{prefix}{group}:{name}" for name in _full_names(*_names(facts))}


# Cached: reconcile asks for one person's keys twice a batch (to store them, and in the in-batch
# index); a batch is at most a few thousand people. PersonFacts is frozen, so equal facts, equal keys.
@functools.lru_cache(maxsize=8192)
def block_keys(facts: PersonFacts) -> tuple[str, ...]:
    """The blocking keys a person is stored under (plain text; the state store keeps keyed digests)."""
    return tuple(sorted(_shared_keys(facts) | _dated_side(facts, stored=True)))


@functools.lru_cache(maxsize=8192)
def probe_keys(facts: PersonFacts) -> tuple[str, ...]:
    """The blocking keys a person looks for candidates under."""
    return tuple(sorted(_shared_keys(facts) | _dated_side(facts, stored=False)))


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
        seen = {k for block in probe_keys(facts) for k in self._index.get(block, ())} - {facts.key}
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
