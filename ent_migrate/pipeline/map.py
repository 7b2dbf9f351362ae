"""map: apply the declarative mapping — logins first — and store each item's expected target record.

Logins are deterministic and collision-safe, and once given they are kept forever in the ``id_map``
table (old id → new id, old login → new login): a re-run, or next year's run, gives a person the same
login. A source login is kept when it is valid for the target and free; otherwise one is built from
the mapping's template, ASCII-folded, and suffixed on collision (jean.martin, jean.martin2, ...).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ent_migrate.contract import TargetRules
from ent_migrate.pipeline._db import now, scan, table
from ent_migrate.pipeline.context import MappingSpec, PipelineContext
from ent_migrate.pipeline.runner import ItemState

__all__ = ["build_login", "map_records", "payload_fingerprint"]

_NOT_LOGIN = re.compile(r"[^a-z0-9]+")


def payload_fingerprint(payload: Mapping[str, Any]) -> str:
    """The fingerprint of a canonical dict — the same bytes as ``model.canonical_bytes``."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("'", "").replace("’", ""))
    return _NOT_LOGIN.sub("-", folded.encode("ascii", "ignore").decode().lower()).strip("-")


def build_login(payload: Mapping[str, Any], mapping: MappingSpec, max_length: int) -> str:
    """The login the template gives, before any collision suffix."""
    first, last = _ascii(payload.get("first_name") or ""), _ascii(payload.get("last_name") or "")
    login = mapping.login_template.format(
        first=first, last=last, first_initial=first[:1], sep=mapping.login_separator
    ).strip(".-_")
    return (login or "user")[:max_length].strip(".-_") or "user"


def _valid(login: str, rules: TargetRules, max_length: int) -> bool:
    if len(login) > max_length:
        return False
    return not (rules.login_pattern and not re.fullmatch(rules.login_pattern, login))


class _Logins:
    """Assigns logins to one batch of people with a handful of queries, not a few per person."""

    def __init__(self, conn: Connection, ctx: PipelineContext, next_suffix: dict[str, int]) -> None:
        self.conn, self.ctx = conn, ctx
        # base login -> the suffix to probe first. Kept for the whole stage: a common name has
        # thousands of homonyms in an académie, and probing from 2 each time would be quadratic.
        self.next_suffix = next_suffix
        self.rules = ctx.target.rules()
        self.max_length = min(ctx.mapping.login_max_length, self.rules.login_max_length or ctx.mapping.login_max_length)

    def assign(self, people: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        id_map = table("id_map")
        keys = [key for key, _ in people]
        known = {
            r.old_id: r.new_login
            for r in self.conn.execute(
                select(id_map.c.old_id, id_map.c.new_login).where(
                    id_map.c.source == self.ctx.source_spec, id_map.c.old_id.in_(keys)
                )
            )
            if r.new_login
        }
        wanted: dict[str, list[str]] = {}  # key -> candidate logins in order of preference
        for key, payload in people:
            if key in known:
                continue
            old = payload.get("login")
            base = build_login(payload, self.ctx.mapping, self.max_length)
            wanted[key] = ([old] if old and _valid(old, self.rules, self.max_length) else []) + [base]
        taken = self._taken({c for cands in wanted.values() for c in cands})
        rows: list[dict[str, Any]] = []
        for key, payload in people:
            if key in known:
                continue
            cands = wanted[key]
            login = next((c for c in cands if c not in taken), None)
            if login is None:
                login = self._suffixed(cands[-1], taken)
            taken.add(login)
            known[key] = login
            rows.append({"source": self.ctx.source_spec, "old_id": key, "new_id": key,
                         "old_login": payload.get("login"), "new_login": login, "created_at": now()})
        if rows:
            self.conn.execute(id_map.insert(), rows)
        return known

    def _taken(self, logins: set[str]) -> set[str]:
        id_map = table("id_map")
        if not logins:
            return set()
        query = select(id_map.c.new_login).where(id_map.c.new_login.in_(sorted(logins)))
        return set(self.conn.execute(query).scalars())

    def _suffixed(self, base: str, taken: set[str]) -> str:
        """base2, base3, ...: the first free one. Candidates are probed a hundred at a time through the
        unique index on new_login — a LIKE 'base%' scan would make a district of a million quadratic."""
        start = self.next_suffix.get(base, 2)
        while True:
            candidates = []
            for n in range(start, start + 100):
                suffix = str(n)
                candidates.append((n, base[: self.max_length - len(suffix)] + suffix))
            used = taken | self._taken({c for _, c in candidates})
            for n, candidate in candidates:
                if candidate not in used:
                    self.next_suffix[base] = n + 1
                    return candidate
            start += 100


def map_records(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    items = table("items")
    counts: dict[str, int] = {"mapped": 0, "logins_kept": 0, "logins_built": 0}
    next_suffix: dict[str, int] = {}
    # Only people change in mapping (logins); every other record is expected on the target as it came
    # from the source, which one UPDATE copies without a round trip through Python and JSON.
    with ctx.engine.begin() as conn:
        copied = conn.execute(
            update(items)
            .where(items.c.run_id == run_id, items.c.payload.is_not(None), items.c.kind != "person")
            .values(target_payload=items.c.payload, target_fingerprint=items.c.source_fingerprint,
                    state=ItemState.MAPPED, updated_at=now())
        ).rowcount
    counts["mapped"] += int(copied or 0)
    query = select(items.c.id, items.c.kind, items.c.key, items.c.payload).where(
        items.c.run_id == run_id, items.c.payload.is_not(None), items.c.kind == "person"
    )
    with ctx.progress("map", None) as advance:
        for rows in scan(ctx.engine, query, items.c.id):
            with ctx.engine.begin() as conn:
                logins = _Logins(conn, ctx, next_suffix).assign(
                    [(r.key, r.payload) for r in rows if r.kind == "person"]
                )
                updates = []
                for row in rows:
                    payload = dict(row.payload)
                    if row.kind == "person":
                        login = logins[row.key]
                        counts["logins_kept" if login == payload.get("login") else "logins_built"] += 1
                        payload["login"] = login
                    updates.append(
                        {"item_id": row.id, "b_payload": payload, "b_fingerprint": payload_fingerprint(payload)}
                    )
                    counts["mapped"] += 1
                conn.execute(
                    update(items)
                    .where(items.c.id == bindparam("item_id"))
                    .values(target_payload=bindparam("b_payload"),
                            target_fingerprint=bindparam("b_fingerprint"),
                            state=ItemState.MAPPED, updated_at=now()),
                    updates,
                )
            advance(len(rows))
    return counts
