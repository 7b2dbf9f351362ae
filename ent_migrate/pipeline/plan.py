"""plan — the dry-run: per item, create / update / disable / delete / move / skip, and why.

plan reads the target (never writes to it), compares what it holds with each item's expected record
by fingerprint, applies the target's declared validation rules (so a plan that passes does not fail at
apply for those reasons) and the safety thresholds. Memory stays flat: the target is read in batches
and each batch is matched against the state store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, tuple_, update

from ent_migrate.contract import Action, Capability, TargetRules
from ent_migrate.errors import ThresholdExceededError
from ent_migrate.model import Record, RecordKind
from ent_migrate.pipeline._db import now, table
from ent_migrate.pipeline.context import PipelineContext, Safety
from ent_migrate.pipeline.map import payload_fingerprint
from ent_migrate.pipeline.runner import ItemState

__all__ = ["INVALID", "check_thresholds", "plan", "validate"]

INVALID = "invalid: "
_WRITES = (Action.CREATE, Action.UPDATE, Action.DISABLE, Action.DELETE, Action.MOVE)


def validate(kind: str, payload: Mapping[str, Any], rules: TargetRules) -> str | None:
    """The first rule *payload* breaks, as a reason without personal data, or None."""
    for field in rules.required.get(RecordKind(kind), ()):
        if payload.get(field) in (None, "", []):
            return f"{INVALID}required field {field} is empty"
    if kind == RecordKind.PERSON:
        login = payload.get("login") or ""
        if rules.login_max_length is not None and len(login) > rules.login_max_length:
            return f"{INVALID}login longer than {rules.login_max_length} characters"
        if rules.login_pattern and not re.fullmatch(rules.login_pattern, login):
            return f"{INVALID}login does not match the target's pattern"
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
    if ctx.source.partial:
        # Expected to stay as it is, so verify marks it "=" rather than "only on the target".
        return Action.SKIP, "not in this delta (a delta never deletes)", record.to_dict()
    can_delete = Capability.DELETE in ctx.target.capabilities
    if kind == RecordKind.PERSON:
        policy = ctx.mapping.on_missing_person
        if policy == "disable":
            expected = dict(record.to_dict(), active=False)
            if record.to_dict() == expected:
                return Action.SKIP, "gone from the source, already disabled", expected
            return Action.DISABLE, "gone from the source (mapping: on_missing = disable)", expected
        if policy == "keep":
            return Action.SKIP, "only on the target, kept (mapping: on_missing = keep)", None
    if not can_delete:
        return Action.SKIP, "only on the target; the target cannot delete", None
    return Action.DELETE, "only on the target", None


def plan(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items = table("items")
    rules = ctx.target.rules()
    with ctx.engine.begin() as conn:
        # A plan is recomputed from scratch: forget target-only rows and earlier decisions.
        conn.execute(delete(items).where(items.c.run_id == run_id, items.c.payload.is_(None)))
        conn.execute(
            update(items).where(items.c.run_id == run_id).values(action=None, reason=None, mark=None, mark_reason=None)
        )
    target_total = 0
    if Capability.READ_BACK in ctx.target.capabilities:
        for batch in ctx.read_target_batches("plan: read the target"):
            _match_batch(ctx, run_id, batch)
            target_total += len(batch)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(items)
            .where(items.c.run_id == run_id, items.c.action.is_(None), items.c.target_payload.is_not(None))
            .values(action=Action.CREATE, reason="absent from the target")
        )
        invalid = _apply_rules(conn, run_id, rules)
        conn.execute(update(items).where(items.c.run_id == run_id).values(state=ItemState.PLANNED, updated_at=now()))
        counts = _action_counts(conn, run_id)
    counts["invalid"] = invalid
    counts["target_total"] = target_total
    check_thresholds(ctx.safety, counts, target_total)
    return counts


def _match_batch(ctx: PipelineContext, run_id: str, records: Iterable[Record]) -> None:
    records = list(records)
    if not records:
        return
    items = table("items")
    with ctx.engine.begin() as conn:
        wanted = [(str(r.kind), r.key) for r in records]
        found = {
            (row.kind, row.key): row
            for row in conn.execute(
                select(items.c.id, items.c.kind, items.c.key, items.c.target_payload, items.c.target_fingerprint)
                .where(items.c.run_id == run_id, tuple_(items.c.kind, items.c.key).in_(wanted))
            )
        }
        decisions: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        for record in records:
            kind = str(record.kind)
            row = found.get((kind, record.key))
            current = record.to_dict()
            if row is not None and row.target_payload is not None:
                if payload_fingerprint(current) == row.target_fingerprint:
                    decisions.append({"item_id": row.id, "b_action": Action.SKIP, "b_reason": "already up to date"})
                else:
                    action, reason = _decide(kind, current, row.target_payload)
                    decisions.append({"item_id": row.id, "b_action": action, "b_reason": reason})
                continue
            action, reason, expected = _target_only(ctx, kind, record)
            extra.append(
                {"run_id": run_id, "kind": kind, "key": record.key, "state": ItemState.PLANNED, "payload": None,
                 "target_payload": expected, "target_fingerprint": payload_fingerprint(expected) if expected else None,
                 "action": action, "reason": reason, "attempts": 0, "updated_at": now()}
            )
        if decisions:
            conn.execute(
                update(items).where(items.c.id == bindparam("item_id"))
                .values(action=bindparam("b_action"), reason=bindparam("b_reason")),
                decisions,
            )
        if extra:
            conn.execute(items.insert(), extra)


def _apply_rules(conn: Connection, run_id: str, rules: TargetRules) -> int:
    """Turn create/update/move items that break a target rule into skips with the rule as reason."""
    if not rules.required and rules.login_max_length is None and not rules.login_pattern:
        return 0
    items = table("items")
    kinds = {str(k) for k in rules.required}
    if rules.login_max_length is not None or rules.login_pattern:
        kinds.add(RecordKind.PERSON)
    rows = conn.execute(
        select(items.c.id, items.c.kind, items.c.target_payload).where(
            items.c.run_id == run_id,
            items.c.kind.in_(sorted(kinds)),
            items.c.action.in_((Action.CREATE, Action.UPDATE, Action.MOVE)),
        )
    )
    broken = []
    for row in rows:
        reason = validate(row.kind, row.target_payload, rules)
        if reason:
            broken.append({"item_id": row.id, "b_reason": reason})
    if broken:
        conn.execute(
            update(items).where(items.c.id == bindparam("item_id"))
            .values(action=Action.SKIP, reason=bindparam("b_reason")),
            broken,
        )
    return len(broken)


def _action_counts(conn: Connection, run_id: str) -> dict[str, Any]:
    items = table("items")
    counts: dict[str, Any] = {str(a): 0 for a in Action}
    for action, n in conn.execute(
        select(items.c.action, func.count()).where(items.c.run_id == run_id).group_by(items.c.action)
    ):
        counts[str(action)] = int(n)
    return counts


def check_thresholds(safety: Safety, counts: Mapping[str, Any], target_total: int) -> None:
    """Stop over a safety threshold, naming it and how to raise it. Disables count as deletions:
    both take access away from people."""
    deletions = int(counts.get(Action.DELETE, 0)) + int(counts.get(Action.DISABLE, 0))
    updates = int(counts.get(Action.UPDATE, 0)) + int(counts.get(Action.MOVE, 0))

    def stop(what: str, value: float, setting: str, limit: float, fix: str) -> None:
        raise ThresholdExceededError(
            f"the plan would {what} ({value:g}), over the safety threshold [safety] {setting} = {limit:g}. "
            f"Check that the source export is complete; if this is intended, raise it: "
            f"set [safety] {setting} = {fix} in the config file, or pass --{setting.replace('_', '-')} {fix}"
        )

    if safety.max_deletions is not None and deletions > safety.max_deletions:
        stop(f"delete or disable {deletions} items", deletions, "max_deletions", safety.max_deletions, str(deletions))
    if target_total:
        if safety.max_deletions_pct is not None:
            pct = 100.0 * deletions / target_total
            if pct > safety.max_deletions_pct:
                stop(f"delete or disable {pct:.1f}% of the target", pct, "max_deletions_pct",
                     safety.max_deletions_pct, f"{pct:.1f}")
        if safety.max_updates_pct is not None:
            pct = 100.0 * updates / target_total
            if pct > safety.max_updates_pct:
                stop(f"update {pct:.1f}% of the target", pct, "max_updates_pct", safety.max_updates_pct, f"{pct:.1f}")


WRITE_ACTIONS = tuple(str(a) for a in _WRITES)
