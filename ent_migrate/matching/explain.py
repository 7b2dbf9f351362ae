"""Why a person has the identity they have, said again for the dry-run report.

reconcile keeps, with the identity's facts, how each person who joined it did (``matches``: source
id → :func:`describe`); the report reads that back. A person joined before that was kept, or by a
reviewer's merge, is explained again from the facts with the same
:func:`~ent_migrate.matching.score.score` reconcile uses. The methods, in the order reconcile tries them:

``new``       the person founded the identity in this run (no one known matched);
``known``     the person founded the identity in an earlier run (a re-run, next night's delta);
``decision``  a reviewer's ``merge`` was replayed;
``ine``       joined through the INE (the names agreed enough for it not to be a conflict);
``jointure``  joined through the académie jointure;
``children``  a guardian joined through a child they share, plus the folded names;
``score``     joined by a unique match on names and birth date.

``why`` lists the keys: ``score 0.950: +last_name +first_name +birth_date -structure``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ent_migrate.matching.score import DEFAULT_WEIGHTS, MatchExplanation, PersonFacts, Weights, score

__all__ = ["METHODS", "PersonMatch", "describe", "explain_match", "founder_fact", "is_founder", "login_origin"]

METHODS = ("new", "known", "decision", "ine", "jointure", "children", "score")


@dataclasses.dataclass(frozen=True, slots=True)
class PersonMatch:
    identity: str  # the identity's canonical id (personal: pseudonymise before writing)
    method: str  # one of METHODS
    why: str


def _why(value: float, matched: tuple[str, ...], differed: tuple[str, ...]) -> str:
    keys = " ".join([*(f"+{k}" for k in matched), *(f"-{k}" for k in differed)])
    return f"score {value:.3f}: {keys}" if keys else f"score {value:.3f}"


def founder_fact(source: str, source_id: str, run_id: str) -> list[str]:
    """What an identity's facts keep of the record that founded it (``facts["founder"]``)."""
    return [source, source_id, run_id]


def is_founder(source: str, source_id: str, canonical: str, facts: Mapping[str, Any] | None) -> bool:
    """Did this source's record found the identity? Its facts say so; an identity kept before they
    did was founded under the founder's own id."""
    kept = (facts or {}).get("founder")
    if isinstance(kept, list) and len(kept) >= 2:
        return bool(kept[0] == source and kept[1] == source_id)
    return canonical == source_id


def describe(method: str, explanation: MatchExplanation) -> dict[str, str]:
    """What reconcile keeps for one joined person: the method and the keys (no personal data)."""
    return {"method": method, "why": _why(explanation.score, explanation.matched, explanation.differed)}


def explain_match(
    key: str,
    payload: Mapping[str, Any],
    canonical: str | None,
    identity_facts: Mapping[str, Any] | None,
    *,
    merged: bool = False,
    weights: Weights = DEFAULT_WEIGHTS,
    source: str | None = None,
    run_id: str | None = None,
) -> PersonMatch | None:
    """How the person *key* (their record *payload*) of *source* came to the identity *canonical*, in
    run *run_id*; None when the person has no identity (reconcile has not run)."""
    if canonical is None:
        return None
    if is_founder(source, key, canonical, identity_facts) if source is not None else canonical == key:
        founder = (identity_facts or {}).get("founder")
        if run_id is not None and isinstance(founder, list) and len(founder) > 2 and founder[2] != run_id:
            return PersonMatch(canonical, "known", "identity kept from an earlier run")
        return PersonMatch(canonical, "new", "no known person matched")
    if identity_facts is None:  # joined by INE before the identity's facts were kept
        return PersonMatch(canonical, "ine", "same INE")
    kept = (identity_facts.get("matches") or {}).get(key)
    if isinstance(kept, Mapping) and not merged:
        return PersonMatch(canonical, str(kept["method"]), str(kept["why"]))
    verdict = score(
        PersonFacts.from_payload(key, payload), PersonFacts.from_payload(canonical, identity_facts), weights
    )
    why = _why(verdict.score, verdict.matched, verdict.differed)
    if merged:
        return PersonMatch(canonical, "decision", "reviewer: merge; " + why)
    method = next((m for m in ("ine", "jointure") if m in verdict.matched), "score")
    return PersonMatch(canonical, method, why)


def login_origin(login: str | None, old_login: str | None) -> str | None:
    """Where a login came from, without saying it: ``kept`` (the person's old login), ``built``
    (from the mapping's template, suffixed on collision), or ``built, old login as alias`` (the old
    one could not be kept; the old → new map and ``logins export`` hold both)."""
    if not login:
        return None
    if old_login and login == old_login:
        return "kept"
    return "built, old login as alias" if old_login else "built"
