"""map, for classes and groups: the mapping's renames and splits, and its group transforms.

A renamed or split class is a new record with a new key (``UAI$new code``), so it is added to the
run's items as the source would have given it, and the item of the old code is no longer expected on
the target (plan neither creates it nor verify looks for it; the report lists it as ``skip``).
Memberships follow their class: a pupil of a split class goes to the part the rule gives them
(:class:`ent_migrate.mapping.ClassSplit`), a teacher to every part.

Idempotent: a re-run of map adds the same records again (upserted by key) and drops the same items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ent_migrate.errors import ConfigError
from ent_migrate.mapping import ClassSplit, MappingSpec, apply_steps
from ent_migrate.matching.normalise import fold_name
from ent_migrate.model import Profile, Record, RecordKind, record_from_dict
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.state.items import BATCH

__all__ = ["drop_replaced", "share_out", "split_and_rename", "transform_groups"]


def share_out(split: ClassSplit, pupils: Sequence[tuple[str, Mapping[str, Any]]], where: str) -> dict[str, str]:
    """pupil id → the part of *split* they go to. *pupils* are (id, person payload); *where* names the
    class for an error (never a pupil's name or id)."""
    if split.rule == "listed":
        missing = [pid for pid, _ in pupils if pid not in split.pupils]
        if missing:
            raise ConfigError(
                f"{split.where}: {len(missing)} pupil(s) of class {where} are in no part of pupils "
                "(each pupil must be listed once)"
            )
        return {pid: split.pupils[pid] for pid, _ in pupils}
    ordered = sorted(
        pupils, key=lambda p: (fold_name(p[1].get("last_name") or ""), fold_name(p[1].get("first_name") or ""), p[0])
    )
    size, extra = divmod(len(ordered), len(split.into))
    out: dict[str, str] = {}
    start = 0
    for index, part in enumerate(split.into):
        end = start + size + (1 if index < extra else 0)
        out.update((pid, part) for pid, _ in ordered[start:end])
        start = end
    return out


def _new_group(payload: Mapping[str, Any], code: str, split: bool) -> Record:
    name = payload.get("name") or ""
    # A name that only repeated the code follows it; a split class's parts are told apart by code.
    new_name = code if split or name in ("", payload["code"]) else name
    return record_from_dict({**payload, "code": code, "name": new_name})


def split_and_rename(ctx: PipelineContext, run_id: str) -> tuple[list[int], dict[str, int]]:
    """Add the renamed and split classes and their memberships to the run; the ids of the items they
    replace (to drop once map has set the expected records), and counts."""
    spec, items = ctx.mapping, ctx.state.items
    counts = {"classes_renamed": 0, "classes_split": 0, "memberships_moved": 0}
    if not spec.class_renames and not spec.class_splits:
        return [], counts
    replaced: list[int] = []
    rules: dict[tuple[str, str], str | ClassSplit] = {}
    added: list[Record] = []
    for rows in items.scan_source(run_id, RecordKind.GROUP):
        for item_id, _, payload in rows:
            rule = spec.class_rule(payload["uai"], payload["code"])
            if rule is None:
                continue
            rules[(payload["uai"], payload["code"])] = rule
            replaced.append(item_id)
            if isinstance(rule, str):
                added.append(_new_group(payload, rule, split=False))
                counts["classes_renamed"] += 1
            else:
                added.extend(_new_group(payload, code, split=True) for code in rule.into)
                counts["classes_split"] += 1
    members: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for rows in items.scan_source(run_id, RecordKind.MEMBERSHIP):
        for item_id, _, payload in rows:
            if (payload["uai"], payload["group_code"]) in rules:
                members.setdefault((payload["uai"], payload["group_code"]), []).append((item_id, payload))
    people = _people(ctx, run_id, {p["person_id"] for ms in members.values() for _, p in ms})
    for (uai, code), ms in sorted(members.items()):
        rule = rules[(uai, code)]
        replaced.extend(item_id for item_id, _ in ms)
        counts["memberships_moved"] += len(ms)
        if isinstance(rule, str):
            added.extend(record_from_dict({**p, "group_code": rule}) for _, p in ms)
            continue
        pupils = [
            (p["person_id"], people.get(p["person_id"], {}))
            for _, p in ms
            if people.get(p["person_id"], {}).get("profile", Profile.STUDENT) == Profile.STUDENT
        ]
        part_of = share_out(rule, pupils, f"{code} ({uai})")
        for _, p in ms:
            parts = [part_of[p["person_id"]]] if p["person_id"] in part_of else list(rule.into)
            added.extend(record_from_dict({**p, "group_code": part}) for part in parts)
    for start in range(0, len(added), BATCH):
        items.put_extracted(run_id, added[start : start + BATCH])
    return replaced, counts


def _people(ctx: PipelineContext, run_id: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The payloads of these people (the members of split classes: a few hundred, not the district)."""
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
        out.update((key, payload) for _, key, payload in rows if key in ids)
    return out


def drop_replaced(ctx: PipelineContext, item_ids: Iterable[int]) -> None:
    """The items a rename or split replaced are not expected on the target any more."""
    ctx.state.items.drop_expected(item_ids, "mapping")


def transform_groups(ctx: PipelineContext, run_id: str, spec: MappingSpec, skip: set[int]) -> int:
    """The mapping's ``[transforms.group]`` on every expected group; how many changed."""
    steps = spec.transforms.get("group")
    if not steps:
        return 0
    changed = 0
    for rows in ctx.state.items.scan_source(run_id, RecordKind.GROUP):
        expected = []
        for item_id, _, payload in rows:
            if item_id in skip:
                continue
            new = dict(payload)
            for field, field_steps in steps.items():
                if isinstance(new.get(field), str):
                    new[field] = apply_steps(new[field], field_steps)
            if new != payload:
                expected.append((item_id, new))
        ctx.state.items.set_expected(expected)
        changed += len(expected)
    return changed
