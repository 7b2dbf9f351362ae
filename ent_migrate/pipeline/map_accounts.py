"""map, for people: one account per identity.

reconcile may find that two records of one source are one person (a guardian listed by two schools, a
pupil twice after a change of school, the same pupil with and without an INE). They are one identity;
they must also be one account, or the pupil's work is split between two logins. So, before the
expected records are set:

- the identity's first record (its founder when the founder is in this run, else the first item) is
  its account: its expected record takes the others' structures and e-mail addresses, and lists their
  ids in ``source_ids``;
- each other record is dropped (``not_expected = "identity"``): plan skips it, says why, and the
  report's identity column shows which identity it belongs to;
- every record that refers to a dropped person (functions, memberships, guardianships, mailboxes,
  messages, documents, productions) is added again, rewritten onto the account, and the original is
  dropped. When the account already has a record with that key — the same class, the same child — the
  account's own stays; a document or production of the same name but other bytes is kept under a new
  name (``devoir (2).pdf``), a message with the same Message-ID but other bytes under ``<id>~2``:
  nothing is lost.

The same holds across runs into one target: when a person's identity was founded by an earlier run
(another source, such as SIECLE after AAF, or this source under an id that has changed since last
year), the account that run made is the identity's account. The person's record is rewritten under
that account's key (plan compares it with what the target holds there instead of creating a second
account), keeps that account's login, and what refers to the person follows. Not when another person
of this run holds that key (an id two sources use for two people): folding would overwrite them.

Idempotent, like the class renames: a re-run of map rewrites the same records (upserted by key) and
drops the same items. Costs one query when the run has no duplicate person.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ent_migrate.model import Record, RecordKind, record_from_dict
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.state.identities import target_source
from ent_migrate.state.items import BATCH

__all__ = ["Folds", "fold_people", "merged_person"]

#: the fields of each kind that hold a person's id
_PERSON_FIELDS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.FUNCTION: ("person_id",),
    RecordKind.MEMBERSHIP: ("person_id",),
    RecordKind.GUARDIANSHIP: ("guardian_id", "student_id"),
    RecordKind.MAILBOX: ("owner_id",),
    RecordKind.MESSAGE: ("owner_id",),
    RecordKind.DOCUMENT: ("owner_id",),
    RecordKind.PRODUCTION: ("owner_id",),
}
#: a person's fields that add up over the records of one identity
_UNION_FIELDS = ("structures", "emails", "source_ids")


@dataclasses.dataclass
class Folds:
    """What :func:`fold_people` did, for the person pass and the counts."""

    #: account's source id → the source payloads of the records folded onto it
    onto: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    #: item ids of the people folded away (no account of their own)
    people: set[int] = dataclasses.field(default_factory=set)
    #: item ids of the records rewritten onto an account (their rewritten copy is a new item)
    rewritten: list[int] = dataclasses.field(default_factory=list)
    renamed: int = 0  # documents, productions and messages kept under a new name
    #: account key → the source and id the account's login is kept under (an earlier run's account,
    #: one the target holds, or this source's own under ``source:id``)
    inherited: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    held: int = 0  # people landing on an account the target or an earlier run already holds

    def counts(self) -> dict[str, int]:
        return {
            "people_folded": len(self.people),
            "records_rewritten": len(self.rewritten),
            "records_renamed": self.renamed,
            "accounts_already_held": self.held,
        }


def merged_person(payload: Mapping[str, Any], folded: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The account's expected record: its own, plus the structures, e-mail addresses and ids of the
    records folded onto it (in their order, without repeats)."""
    out = dict(payload)
    for field in _UNION_FIELDS:
        values = list(out.get(field) or ())
        extra = [v for other in folded for v in (other.get(field) or ())]
        if field == "source_ids":
            extra = [str(other["id"]) for other in folded] + extra
        merged = list(dict.fromkeys([*values, *extra]))
        merged = [v for v in merged if not (field == "source_ids" and v == out.get("id"))]
        if merged or field in out:
            out[field] = merged
    return out


def fold_people(ctx: PipelineContext, run_id: str, skip: set[int]) -> Folds:
    """Fold the run's duplicate people onto one account each and rewrite what refers to them; *skip*
    are items the mapping already replaced (a renamed class's memberships)."""
    folds = Folds()
    identities = ctx.state.identities
    groups = identities.shared_in_run(ctx.source_name, run_id)
    elsewhere = _elsewhere(ctx, run_id)
    if not groups and not elsewhere:
        return folds
    account_of = {key: account for key, (account, _, _) in elsewhere.items()}
    for group in groups:
        held = next((account_of[key] for _, key, _ in group if key in account_of), None)
        if held is not None:
            # An identity whose account an earlier run made: every record of this run folds onto it.
            account, rest = held, group
        else:
            account, rest = group[0][1], group[1:]
        for _, key, _ in rest:
            if key != account:  # the account's own record, met again when a map is re-run
                account_of[key] = account
    folds.inherited = {account_of[key]: (source, old_id) for key, (_, source, old_id) in elsewhere.items()}
    # The rest of *elsewhere* is a person's own account under ``source:id`` (no one held it before).
    folds.held = sum(1 for key, (_, source, old_id) in elsewhere.items() if (source, old_id) != (ctx.source_name, key))
    # The folded records' payloads (a source's duplicates: a few, not the district; or, for a source
    # an earlier run's accounts already cover, its people).
    # Looked up by key, not found by a scan of every person (decoding each: issue 15).
    first: dict[str, dict[str, Any]] = {}
    for item_id, key, payload in ctx.state.items.source_rows(run_id, str(RecordKind.PERSON), account_of):
        folds.people.add(item_id)
        folds.onto.setdefault(account_of[key], []).append(payload)
        first.setdefault(account_of[key], payload)
    # The earlier run's account becomes this run's record of the identity, under the account's key:
    # plan compares it with what the target holds there instead of creating a second account.
    held_accounts = sorted(a for a in folds.inherited if a in first)
    for start in range(0, len(held_accounts), BATCH):
        accounts = held_accounts[start : start + BATCH]
        ctx.state.items.put_extracted(
            run_id,
            [record_from_dict(merged_person({**first[a], "id": a}, folds.onto[a])) for a in accounts],
        )
    for kind, fields in _PERSON_FIELDS.items():
        for batch in _rewritten(ctx, run_id, kind, fields, account_of, skip, folds):
            ctx.state.items.put_extracted(run_id, batch)
    return folds


def _elsewhere(ctx: PipelineContext, run_id: str) -> dict[str, tuple[str, str, str]]:
    """The run's people whose account on this target is under another key than their own id: person
    key → (the account's key, the source and id its login is kept under): an account an earlier run
    made, or the identity's own ``source:id``, else one the target already holds (the identity has it
    under the target's alias source). Not when another person of this run holds
    that key and stays there: folding would overwrite that person's record."""
    identities = ctx.state.identities
    alias = target_source(ctx.target_name)
    # An earlier run's account wins over another the target holds for the person (its login is in the
    # id map; the target's other copy is then a duplicate, which plan disables or deletes).
    found = {
        key: (account, alias, account)
        for key, account in identities.accounts_on_target(ctx.source_name, run_id, alias).items()
    } | identities.founded_elsewhere(ctx.source_name, run_id, ctx.target_name)
    held = ctx.state.items.present(run_id, str(RecordKind.PERSON), {account for account, _, _ in found.values()})
    folded_onto: dict[str, set[str]] = {}
    for key, (account, _, _) in found.items():
        folded_onto.setdefault(account, set()).add(key)

    def native(account: str) -> bool:
        # This run's own record under that key, unless it moves to an account of its own; not the
        # copy an interrupted map already wrote.
        payload = held.get(account)
        if payload is None or account in found:
            return False
        return not folded_onto[account] & set(payload.get("source_ids") or ())

    return {key: account for key, account in found.items() if not native(account[0])}


def _rewritten(
    ctx: PipelineContext,
    run_id: str,
    kind: RecordKind,
    fields: tuple[str, ...],
    account_of: Mapping[str, str],
    skip: set[int],
    folds: Folds,
) -> Iterator[list[Record]]:
    """Batches of the records of *kind* rewritten onto the accounts (the originals join
    ``folds.rewritten``), minus those the account already has."""
    for rows in ctx.state.items.scan_source(run_id, kind):
        candidates: list[Record] = []
        for item_id, _, payload in rows:
            if item_id in skip or not any(payload.get(f) in account_of for f in fields):
                continue
            folds.rewritten.append(item_id)
            candidates.append(
                record_from_dict({**payload, **{f: account_of.get(payload[f], payload[f]) for f in fields}})
            )
        if not candidates:
            continue
        held = ctx.state.items.present(run_id, str(kind), [r.key for r in candidates])
        out: dict[str, Record] = {}
        for record in candidates:
            kept = _kept(record, held, out, folds)
            if kept is not None:
                out[kept.key] = kept
        yield list(out.values())


def _kept(
    record: Record, held: Mapping[str, Mapping[str, Any] | None], batch: Mapping[str, Record], folds: Folds
) -> Record | None:
    """*record*, or under a new name when the account holds other bytes under its key; None when the
    account already has it (a relation, or the same bytes)."""
    sha256 = getattr(record, "sha256", None)
    if sha256 is None:
        return None if record.key in held or record.key in batch else record
    n = 1
    candidate = record
    while candidate.key in held or candidate.key in batch:
        there = batch[candidate.key].to_dict() if candidate.key in batch else held[candidate.key] or {}
        if there.get("sha256") == sha256:
            return None  # the account has these bytes under this name already
        n += 1
        candidate = _renamed(record, n)
    if n > 1:
        folds.renamed += 1
    return candidate


def _renamed(record: Record, n: int) -> Record:
    payload = record.to_dict()
    if record.kind == RecordKind.DOCUMENT:
        stem, ext = posixpath.splitext(payload["path"])
        payload["path"] = f"{stem} ({n}){ext}"
    elif record.kind == RecordKind.PRODUCTION:
        payload["source_ref"] = f"{payload.get('source_ref') or payload['title']}~{n}"
    else:
        payload["message_id"] = f"{payload['message_id']}~{n}"
    return record_from_dict(payload)
