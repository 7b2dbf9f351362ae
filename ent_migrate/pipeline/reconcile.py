"""reconcile: link the people of this run to identities kept across runs.

An identity is keyed by the person's source id, recorded as an alias of the configured source
(``[source.NAME]``, never a path). For a source id the store does not know yet, in this order:

1. a decision a reviewer imported for this person is replayed (``merge`` joins, ``distinct`` keeps apart);
2. the INE of an existing identity joins it, unless the names and birth date disagree so much that the
   shared INE is a conflict: then it goes to the review queue and the person gets an identity of their own;
3. the people sharing a blocking key (folded name + birth date, INE, ...) with the person are scored
   (:mod:`ent_migrate.matching`): a unique match joins, an ambiguous one or one in the review band goes
   to the review queue (the person keeps an identity of their own until decided), none makes a new one.

Each batch reads only the candidates of its own blocking keys from the state store (keyed digests,
never all pairs, never all records in memory). Identities of this run are added batch by batch, so
one person twice in a source is caught too.
"""

from __future__ import annotations

from typing import Any

from ent_migrate.matching import DEFAULT_WEIGHTS, Correlator, PersonFacts, Weights, block_keys, score
from ent_migrate.model import RecordKind
from ent_migrate.pipeline.context import PipelineContext

__all__ = ["facts_payload", "reconcile"]

_FACT_FIELDS = ("profile", "last_name", "first_name", "birth_name", "birth_date", "ine", "structures")


def facts_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a person's record that matching compares, as kept with the identity."""
    return {name: payload.get(name) for name in _FACT_FIELDS}


def reconcile(ctx: PipelineContext, run_id: str, weights: Weights = DEFAULT_WEIGHTS) -> dict[str, Any]:
    identities, review = ctx.state.identities, ctx.state.review
    source = ctx.source_name
    counts = {"people": 0, "new_identities": 0, "joined_by_ine": 0, "joined_by_match": 0, "to_review": 0}
    for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
        counts["people"] += len(rows)
        known = identities.aliased(source, [key for _, key, _ in rows])
        todo = [(key, payload) for _, key, payload in rows if key not in known]
        if not todo:
            continue
        facts = {key: PersonFacts.from_payload(key, payload) for key, payload in todo}
        blocks = {key: block_keys(f) for key, f in facts.items()}
        stored = identities.candidates(b for bs in blocks.values() for b in bs)
        correlator = Correlator((PersonFacts.from_payload(c, f) for c, f in stored.items()), weights)
        by_ine = identities.by_ine(f.ine for f in facts.values() if f.ine)
        decided = review.decisions(source, list(facts))
        fresh: list[tuple[str, str, str | None]] = []
        joined: dict[str, str] = {}  # source id -> canonical id of the identity it joins
        joined_ids: dict[str, int] = {}  # source id -> identity id (an identity kept before its facts were)
        queued: list[dict[str, Any]] = []
        for key, payload in todo:
            person = facts[key]
            mine = {c: d for (p, c), d in decided.items() if p == key}
            distinct = {c for c, d in mine.items() if d == "distinct"}
            target = min((c for c, d in mine.items() if d == "merge"), default=None)
            if target is None and person.ine and person.ine in by_ine:
                owner = min((c for c, f in stored.items() if f.get("ine") == person.ine), default=None)
                if owner is None:
                    joined_ids[key] = by_ine[person.ine]
                    counts["joined_by_ine"] += 1
                    continue
                verdict = score(person, PersonFacts.from_payload(owner, stored[owner]), weights)
                if verdict.decision == "match":
                    target = owner
                    counts["joined_by_ine"] += 1
                elif owner not in distinct:
                    # The same INE on people who disagree otherwise: never merged, never ignored.
                    queued.append(
                        _queue_row(
                            source, person, owner, verdict.score, verdict.matched, verdict.differed, "ine_conflict"
                        )
                    )
            elif target is None:
                result = correlator.correlate(person)
                if result.decision == "match" and result.identity is not None and result.identity not in distinct:
                    target = result.identity
                    counts["joined_by_match"] += 1
                elif result.decision != "new":
                    queued.extend(
                        _queue_row(
                            source,
                            person,
                            c.key,
                            c.explanation.score,
                            c.explanation.matched,
                            c.explanation.differed,
                            result.reason,
                        )
                        for c in result.candidates
                        if c.key not in distinct
                    )
            if target:
                joined[key] = target
            else:
                fresh.append((key, str(payload["profile"]), person.ine))
                correlator.add(person)  # one person twice in a source is caught within the batch too
        target_ids = identities.ids_of(joined.values())
        joined_ids.update({k: target_ids[c] for k, c in joined.items() if c in target_ids})
        # A target that is itself fresh in this batch is created by the same add() below.
        late = {k: c for k, c in joined.items() if c not in target_ids}
        identities.add(source, fresh, joined_ids)
        if late:
            late_ids = identities.ids_of(late.values())
            identities.add(source, [], {k: late_ids[c] for k, c in late.items()})
        fresh_keys = {k for k, _, _ in fresh}
        kept: dict[str, tuple[dict[str, Any] | None, tuple[str, ...]]] = {
            key: (facts_payload(payload), blocks[key]) for key, payload in todo if key in fresh_keys
        }
        for k, c in joined.items():  # a joined alias adds its spellings to the identity's blocks
            facts_kept, old_blocks = kept.get(c, (None, ()))
            kept[c] = (facts_kept, old_blocks + blocks[k])
        identities.add_facts(kept)
        review.add(queued)
        counts["new_identities"] += len(fresh)
        counts["to_review"] += len({r["person_key"] for r in queued})
    return counts


def _queue_row(
    source: str,
    person: PersonFacts,
    candidate: str,
    value: float,
    matched: tuple[str, ...],
    differed: tuple[str, ...],
    reason: str,
) -> dict[str, Any]:
    return {
        "source": source,
        "person_key": person.key,
        "candidate_key": candidate,
        "profile": person.profile,
        "reason": reason,
        "score": f"{value:.3f}",
        "matched": " ".join(matched),
        "differed": " ".join(differed),
    }
