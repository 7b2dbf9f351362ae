"""reconcile: link the people of this run to identities kept across runs.

Each source's id for a person is an alias of the configured source (``[source.NAME]``, never a path)
pointing at an identity. For a source id the store does not know yet, in this order:

1. a decision a reviewer imported for this person is replayed (``merge`` joins, ``distinct`` keeps apart);
2. the INE of an existing identity joins it, unless the names and birth date disagree so much that the
   shared INE is a conflict: then it goes to the review queue and the person gets an identity of their own;
3. the people sharing a blocking key (folded name + birth date, INE, ...) with the person are scored
   (:mod:`ent_migrate.matching`): a unique match joins, an ambiguous one or one in the review band goes
   to the review queue (the person keeps an identity of their own until decided), none makes a new one.

A new identity's canonical id is the founding record's id, or ``source:id`` when another source's
identity has that id already: the same string in two sources (two schools' ``ELEVE_ID``) is two
people until the score says otherwise. Only sources whose ids are académie jointures (AAF, an SDET
directory: :meth:`~ent_migrate.contract.Connector.person_ids_are_jointures`) give their ids as the
``jointure`` key, which the score weighs like the INE.

Guardians are reconciled last, through their children: a guardian's facts carry the canonical ids of
their children's identities (from this run's guardianships), so a guardian with no INE, seen by two
schools or two sources, joins the identity of the one who shares a child and the folded names
(``children`` weighs as much as a birth date would); a homonym with other children is not merged. The
identity's facts keep the union of the children, so a third record sharing only the second child
finds it too, and the guardianships of both records stay: one identity, both links.

Then the accounts the target already holds (when it can be read back) are reconciled the same way,
under the target's alias source ``@<target>``: an account joins the identity of the source person it
belongs to, and map lands that person's record on it (:mod:`ent_migrate.pipeline.map_accounts`), so
an incremental switchover or a target the vendor pre-filled never gets a second account. An account
in doubt goes to the review queue like a person, and so does one that looks like another account the
target holds (``duplicate_account``: two accounts, each maybe with someone's work, are never merged on
a score); its login is kept in the id map, so a newcomer never gets it. Weights and thresholds are
the mapping's ``[matching]``.

Each joined person's explanation (method and keys) is kept with the identity's facts, for the
dry-run report (:mod:`ent_migrate.matching.explain`).

Each batch reads only the candidates of its own blocking keys from the state store (keyed digests,
never all pairs, never all records in memory). Identities of this run are added batch by batch, so
one person twice in a source is caught too; their blocking keys wait, kept with each batch, in a
private index until the stage ends, then go into the store's block index in one sorted insert
(:mod:`ent_migrate.state._blocks`: added a batch at a time, those digests rewrote its pages all over).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ent_migrate.contract import Capability
from ent_migrate.matching import Correlator, MatchExplanation, PersonFacts, Weights, block_keys, probe_keys, score
from ent_migrate.matching.explain import describe, founder_fact
from ent_migrate.model import Guardianship, Person, Profile, RecordKind
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.state._sql import BATCH
from ent_migrate.state.identities import target_source

__all__ = ["facts_payload", "reconcile"]

_FACT_FIELDS = ("profile", "last_name", "first_name", "birth_name", "birth_date", "ine", "structures")

Row = tuple[int, str, dict[str, Any]]
#: batches a guardian is held for when a child is not reconciled yet, before the second pass
_WAIT = 3


def facts_payload(
    payload: dict[str, Any],
    children: Sequence[str] = (),
    *,
    jointure: str | None = None,
    founder: list[str] | None = None,
) -> dict[str, Any]:
    """The part of a person's record that matching compares, as kept with the identity (and, for a
    new one, which record founded it)."""
    out = {name: payload.get(name) for name in _FACT_FIELDS}
    if children:
        out["children"] = sorted(set(children))
    if jointure:
        out["jointure"] = jointure
    if founder:
        out["founder"] = founder
    return out


def reconcile(ctx: PipelineContext, run_id: str, weights: Weights | None = None) -> dict[str, Any]:
    """Give every person of the run an identity; *weights* default to the mapping's ``[matching]``."""
    weights = weights or ctx.mapping.weights
    # The blocking keys kept go into the store's block index once, sorted, at the end (state._blocks).
    with ctx.state.identities.deferred_blocks():
        counts = _source_people(ctx, run_id, weights)
        if Capability.ACCOUNTS in ctx.capabilities and Capability.READ_BACK in ctx.target.capabilities:
            counts["target_accounts"] = _target_accounts(ctx, run_id, weights)
    ctx.state.refresh_statistics()  # the identities were just loaded: map's queries plan on them
    return counts


def _source_people(ctx: PipelineContext, run_id: str, weights: Weights) -> dict[str, Any]:
    """Reconcile the source's people: pupils and staff first, each guardian once their children are."""
    counts: dict[str, Any] = {
        "people": 0,
        "new_identities": 0,
        "joined_by_ine": 0,
        "joined_by_match": 0,
        "joined_through_children": 0,
        "to_review": 0,
    }
    guardian = str(Profile.GUARDIAN)
    source, identities = ctx.source_name, ctx.state.identities
    # Guardians' children are read from the store a batch at a time, for the people at hand only (the
    # whole map is hundreds of MB for an académie), and only once a guardian is new (not on a re-run).
    reading_children = False

    def children_of(batch: list[Row]) -> dict[str, list[str]]:
        return ctx.state.items.children_of(run_id, [key for _, key, _ in batch]) if reading_children else {}

    deferred: set[str] = set()  # guardians with a child not reconciled yet: done in a second pass
    # A guardian is matched through their children's identities, so a guardian waits until all their
    # children have one. The guardians of a batch whose children are reconciled join the next batch's
    # call (one set of queries and commits per batch, as without them); one whose child comes a little
    # later (a batch boundary, a sibling further on) is held for up to _WAIT batches; only a guardian
    # whose child comes later still waits for a second pass over the people (usually none: a source
    # lists pupils near their guardians).
    carried: list[Row] = []
    held: list[tuple[int, Row]] = []  # (batches waited, guardian row): at most _WAIT batches of them
    for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
        counts["people"] += len(rows)
        todo = [r for r in rows if r[2].get("profile") != guardian] + carried
        _batch(ctx, run_id, todo, weights, counts, children_of(todo))
        carried = []
        guardians = [r for r in rows if r[2].get("profile") == guardian]
        known = identities.aliased(source, [key for _, key, _ in guardians]) if guardians else {}
        waiting = [(0, r) for r in guardians if r[1] not in known] + [(n + 1, r) for n, r in held]
        if not waiting:
            continue
        reading_children = True
        children = children_of([r for _, r in waiting])
        kids = sorted({c for _, (_, key, _) in waiting for c in children.get(key, ())})
        have = identities.aliased(source, kids) if kids else {}
        held = []
        for n, row in waiting:
            if all(c in have for c in children.get(row[1], ())):
                carried.append(row)
            elif n < _WAIT:
                held.append((n, row))
            else:
                deferred.add(row[1])
    # Every child the source has is reconciled by now: the held guardians need not wait any more.
    todo = carried + [row for _, row in held]
    _batch(ctx, run_id, todo, weights, counts, children_of(todo))
    if deferred and reading_children:
        for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
            todo = [r for r in rows if r[1] in deferred]
            _batch(ctx, run_id, todo, weights, counts, children_of(todo))
    return counts


def _target_accounts(ctx: PipelineContext, run_id: str, weights: Weights) -> int:
    """Give the people the target already holds an identity, under the target's alias source, after
    this run's own people: an account joins the identity of the person it belongs to (by INE,
    jointure, names and birth date, or a child they share), and map lands that person's record on it
    instead of creating a second account. An account under the id of a person of this source is that
    person's (the target uses the source's ids, or an earlier run made it): joined without a score.
    Pupils and staff first, then guardians with their children (the target's guardianships); an
    account already known is skipped. Returns the accounts given an identity now."""
    alias = target_source(ctx.target_name)
    guardian = str(Profile.GUARDIAN)
    children: dict[str, list[str]] = {}
    if Capability.RELATIONS in ctx.capabilities:
        for record in ctx.target.read(Capability.RELATIONS):
            if isinstance(record, Guardianship):
                children.setdefault(record.guardian_id, []).append(record.student_id)
    counts = {
        k: 0 for k in ("new_identities", "joined_by_ine", "joined_by_match", "joined_through_children", "to_review")
    }
    done, seen_guardian = 0, False
    for guardians in (False, True):
        if guardians and not seen_guardian:
            break
        batch: list[Row] = []
        for record in ctx.target.read(Capability.ACCOUNTS):
            if not isinstance(record, Person):
                continue
            is_guardian = record.profile == guardian
            seen_guardian |= is_guardian
            if is_guardian == guardians:
                batch.append((0, record.key, record.to_dict()))
            if len(batch) >= BATCH:
                done += _target_batch(ctx, run_id, alias, batch, weights, counts, children)
                batch = []
        done += _target_batch(ctx, run_id, alias, batch, weights, counts, children)
    return done


def _target_batch(
    ctx: PipelineContext,
    run_id: str,
    alias: str,
    rows: list[Row],
    weights: Weights,
    counts: dict[str, int],
    children: dict[str, list[str]],
) -> int:
    identities = ctx.state.identities
    keys = [key for _, key, _ in rows]
    known = identities.aliased(alias, keys)
    rows = [r for r in rows if r[1] not in known]
    if not rows:
        return 0
    ours = identities.aliased(ctx.source_name, [key for _, key, _ in rows])
    # The logins before the aliases: a re-run skips an account already aliased, so a stop between the
    # two, the other way round, lost its login for good (a newcomer could then be given it). Written
    # again, a login already noted is kept as it was.
    identities.add_target_logins(alias, [(key, str(p["login"])) for _, key, p in rows if p.get("login")])
    identities.add(alias, [], ours)
    todo = [r for r in rows if r[1] not in ours]
    _batch(ctx, run_id, todo, weights, counts, children, source=alias, jointures=False, hold_duplicates=True)
    return len(rows)


def _batch(
    ctx: PipelineContext,
    run_id: str,
    rows: list[Row],
    weights: Weights,
    counts: dict[str, int],
    children: dict[str, list[str]],
    *,
    source: str | None = None,
    jointures: bool | None = None,
    hold_duplicates: bool = False,
) -> None:
    """Reconcile one batch of people of *source* (this run's source unless said otherwise: the target's
    own accounts come under their alias source). With *hold_duplicates*, a match on an identity that
    already has an alias of *source* goes to the review queue (``duplicate_account``) instead."""
    identities, review = ctx.state.identities, ctx.state.review
    source = source or ctx.source_name
    if jointures is None:
        jointures = ctx.source.person_ids_are_jointures()
    if not rows:
        return
    known = identities.aliased(source, [key for _, key, _ in rows])
    todo = [(key, payload) for _, key, payload in rows if key not in known]
    if not todo:
        return
    child_ids = identities.canonical_of(source, sorted({c for key, _ in todo for c in children.get(key, ())}))
    kids = {key: sorted({child_ids[c] for c in children.get(key, ()) if c in child_ids}) for key, _ in todo}
    # A guardian with more children first: the record that knows every child (the académie's) then
    # founds the identity and each school's record joins it, whatever order the source gave them in;
    # the other way round, it would bridge two identities already apart and go to review. Stable: the
    # others keep the source's order.
    todo.sort(key=lambda kp: -len(kids[kp[0]]))
    # Each person is scored under the canonical id they would found, never their raw source id: that
    # string may be another source's identity, which must be scored, not skipped as "oneself".
    cid = identities.fresh_canonical(source, [key for key, _ in todo])
    facts = {
        key: PersonFacts.from_payload(
            cid[key], payload, children_ines=tuple(kids[key]), jointure=key if jointures else None
        )
        for key, payload in todo
    }
    blocks = {key: block_keys(f) for key, f in facts.items()}
    stored = identities.candidates(b for f in facts.values() for b in probe_keys(f))
    correlator = Correlator((PersonFacts.from_payload(c, f) for c, f in stored.items()), weights)
    by_ine = identities.by_ine(f.ine for f in facts.values() if f.ine)
    decided = review.decisions(source, list(facts))
    fresh: list[tuple[str, str, str, str | None]] = []  # (canonical id, source id, profile, INE)
    joined: dict[str, str] = {}  # source id -> canonical id of the identity it joins
    joined_ids: dict[str, int] = {}  # source id -> identity id (an identity kept before its facts were)
    current = dict(stored)  # canonical id -> facts as this batch leaves them
    why: dict[str, dict[str, str]] = {}  # source id -> how it joined, kept with the identity's facts
    queued: list[dict[str, Any]] = []
    # Two accounts the target holds are never merged on a score: each may hold a person's work.
    accounts = identities.with_alias(source, stored) if hold_duplicates else set()
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
            if verdict.decision == "match" and owner in accounts:
                queued.append(_held_back(source, key, person, owner, verdict))
            elif verdict.decision == "match":
                target = owner
                why[key] = describe("ine", verdict)
                counts["joined_by_ine"] += 1
            elif owner not in distinct:
                # The same INE on people who disagree otherwise: never merged, never ignored.
                queued.append(
                    _queue_row(
                        source, key, person, owner, verdict.score, verdict.matched, verdict.differed, "ine_conflict"
                    )
                )
        elif target is None:
            result = correlator.correlate(person)
            if result.decision == "match" and result.identity in accounts:
                queued.append(_held_back(source, key, person, result.identity, result.candidates[0].explanation))
            elif result.decision == "match" and result.identity is not None and result.identity not in distinct:
                target = result.identity
                explanation = result.candidates[0].explanation
                method = next((m for m in ("ine", "jointure", "children") if m in explanation.matched), "score")
                why[key] = describe(method, explanation)
                counts["joined_through_children" if method == "children" else "joined_by_match"] += 1
            elif result.decision != "new":
                queued.extend(
                    _queue_row(
                        source,
                        key,
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
        if hold_duplicates:
            accounts.add(target or cid[key])
        if target:
            joined[key] = target
            if target in current:
                current[target] = _joined_facts(current[target], kids[key], key, why.get(key), person.jointure)
                # The identity now has this alias's children too: a later one of the batch sees them.
                correlator.add(PersonFacts.from_payload(target, current[target]))
        else:
            fresh.append((cid[key], key, str(payload["profile"]), person.ine))
            current[cid[key]] = facts_payload(
                payload, kids[key], jointure=person.jointure, founder=founder_fact(source, key, run_id)
            )
            correlator.add(person)  # one person twice in a source is caught within the batch too
    # Facts of the new identities and of the joined ones (their children and explanations grew);
    # a joined alias adds its spellings to the identity's blocks.
    kept: dict[str, tuple[dict[str, Any] | None, tuple[str, ...]]] = {
        c: (current[c], blocks[k]) for c, k, _, _ in fresh
    }
    for k, c in joined.items():
        facts_kept, old_blocks = kept.get(c, (current.get(c), ()))
        kept[c] = (facts_kept, old_blocks + blocks[k])
    # All in one transaction: the people it aliases are skipped by a re-run, so a stop half-way through
    # would lose their facts, blocking keys and review entries (an INE conflict never queued).
    identities.keep_batch(source, fresh, joined_ids, joined, kept, queued)
    counts["new_identities"] += len(fresh)
    counts["to_review"] += len({r["person_key"] for r in queued})


def _joined_facts(
    facts: dict[str, Any], children: Sequence[str], key: str, why: dict[str, str] | None, jointure: str | None
) -> dict[str, Any]:
    """An identity's facts once *key* joined it: the union of the children, the jointure if it had
    none, and how *key* joined."""
    out = dict(facts)
    if children:
        out["children"] = sorted(set(facts.get("children") or ()) | set(children))
    if jointure and not facts.get("jointure"):
        out["jointure"] = jointure
    if why is not None:
        out["matches"] = {**(facts.get("matches") or {}), key: why}
    return out


def _held_back(
    source: str, key: str, person: PersonFacts, candidate: str, explanation: MatchExplanation
) -> dict[str, Any]:
    return _queue_row(
        source,
        key,
        person,
        candidate,
        explanation.score,
        explanation.matched,
        explanation.differed,
        "duplicate_account",
    )


def _queue_row(
    source: str,
    key: str,
    person: PersonFacts,
    candidate: str,
    value: float,
    matched: tuple[str, ...],
    differed: tuple[str, ...],
    reason: str,
) -> dict[str, Any]:
    return {
        "source": source,
        "person_key": key,
        "candidate_key": candidate,
        "profile": person.profile,
        "reason": reason,
        "score": f"{value:.3f}",
        "matched": " ".join(matched),
        "differed": " ".join(differed),
    }
