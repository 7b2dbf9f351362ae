"""plan — the dry-run: per item, create / update / move / disable / delete / skip / invalid, and why.

plan reads the target (never writes to it), compares what it holds with each item's expected record
by fingerprint, applies the target's declared validation rules (an item that breaks one is
``invalid``: never sent, listed with the rule) and the safety thresholds. Memory stays flat: the
target is read in batches and each batch is matched against the state store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ent_migrate.contract import Capability, TargetRules
from ent_migrate.model import Record, RecordKind, fingerprint_of
from ent_migrate.outcomes import Action
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.safety import check_thresholds
from ent_migrate.state.items import Decision

__all__ = ["NOT_EXPECTED", "plan", "validate"]

#: why map dropped an item (``items.not_expected``) → the reason plan gives its ``skip``
NOT_EXPECTED = {
    "mapping": "replaced by the mapping (a class renamed or split, and its memberships)",
    "identity": "same person as another record (here, or an earlier run's account): one account for the identity",
}


def validate(kind: str, payload: Mapping[str, Any], rules: TargetRules) -> str | None:
    """The first rule *payload* breaks, as a reason without personal data, or None."""
    for field in rules.required.get(RecordKind(kind), ()):
        if payload.get(field) in (None, "", []):
            return f"required field {field} is empty"
    if kind == RecordKind.PERSON:
        login = payload.get("login") or ""
        if rules.login_max_length is not None and len(login) > rules.login_max_length:
            return f"login longer than {rules.login_max_length} characters"
        if rules.login_pattern and not re.fullmatch(rules.login_pattern, login):
            return "login does not match the target's pattern"
    return None


def _changed_fields(current: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(current) | set(expected) if current.get(k) != expected.get(k))


def _decide(kind: str, current: Mapping[str, Any], expected: Mapping[str, Any]) -> tuple[Action, str]:
    changed = _changed_fields(current, expected)
    if kind == RecordKind.PERSON and "structures" in changed:
        return Action.MOVE, "changes school: " + ", ".join(changed)
    return Action.UPDATE, "fields differ: " + ", ".join(changed)


def _target_only(ctx: PipelineContext, kind: str, record: Record) -> tuple[Action, str, dict[str, Any] | None]:
    """What to do with a record the target holds and the source does not."""
    if ctx.source_is_partial:
        # Expected to stay as it is, so verify marks it "=" rather than "only on the target".
        return Action.SKIP, "not in this delta (a delta never deletes)", record.to_dict()
    if kind == RecordKind.PERSON:
        policy = ctx.mapping.on_missing_person
        if policy == "disable":
            expected = dict(record.to_dict(), active=False)
            if record.to_dict() == expected:
                return Action.SKIP, "gone from the source, already disabled", expected
            return Action.DISABLE, "gone from the source (mapping: on_missing = disable)", expected
        if policy == "keep":
            return Action.SKIP, "only on the target, kept (mapping: on_missing = keep)", None
    if Capability.DELETE not in ctx.target.capabilities:
        return Action.SKIP, "only on the target; the target cannot delete", None
    return Action.DELETE, "only on the target", None


def plan(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items = ctx.state.items
    items.reset_plan(run_id)
    target_total = 0
    if Capability.READ_BACK in ctx.target.capabilities:
        for batch in ctx.read_target_batches("plan: read the target"):
            _match_batch(ctx, run_id, batch)
            target_total += len(batch)
    items.settle_plan(run_id, "absent from the target", NOT_EXPECTED)
    invalid = _apply_rules(ctx, run_id, ctx.target.rules())
    counts: dict[str, Any] = dict(items.action_counts(run_id))
    counts["target_total"] = target_total
    counts["rules_broken"] = invalid
    check_thresholds(ctx.safety, counts, target_total)
    return counts


def _match_batch(ctx: PipelineContext, run_id: str, records: Sequence[Record]) -> None:
    if not records:
        return
    found = ctx.state.items.expected_for(run_id, records)
    decisions: list[Decision] = []
    extra: list[tuple[Record, Action, str, Mapping[str, Any] | None]] = []
    dropped: list[tuple[int, Action, str, Mapping[str, Any] | None]] = []
    for record in records:
        kind = str(record.kind)
        row = found.get((kind, record.key))
        current = record.to_dict()
        if row is not None and row.target_payload is not None:
            if fingerprint_of(current) == row.target_fingerprint:
                decisions.append(Decision(row.id, Action.SKIP, "already up to date"))
            else:
                action, reason = _decide(kind, current, row.target_payload)
                decisions.append(Decision(row.id, action, reason))
            continue
        action, reason, expected = _target_only(ctx, kind, record)
        if row is not None:
            # An item map dropped (a second account of one person, a class before its rename) that the
            # target holds: what happens to the target's copy is decided on that item.
            dropped.append((row.id, action, reason, expected))
        else:
            extra.append((record, action, reason, expected))
    ctx.state.items.decide(decisions)
    ctx.state.items.decide_dropped(dropped)
    ctx.state.items.add_target_only(run_id, extra)


def _apply_rules(ctx: PipelineContext, run_id: str, rules: TargetRules) -> int:
    """Turn create/update/move items that break a target rule into ``invalid`` with the rule as reason."""
    if not rules.required and rules.login_max_length is None and not rules.login_pattern:
        return 0
    kinds = {str(k) for k in rules.required}
    if rules.login_max_length is not None or rules.login_pattern:
        kinds.add(RecordKind.PERSON)
    broken = 0
    for rows in ctx.state.items.to_validate(run_id, kinds, (Action.CREATE, Action.UPDATE, Action.MOVE)):
        decisions = [
            Decision(item_id, Action.INVALID, reason)
            for item_id, kind, payload in rows
            if (reason := validate(kind, payload, rules))
        ]
        ctx.state.items.decide(decisions)
        broken += len(decisions)
    return broken
