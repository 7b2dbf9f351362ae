"""Identities, their aliases per source, and the id/login map kept for good.

An identity is one person across runs and sources. Each source's id for that person is an alias keyed
by the configured source name (``[source.NAME]``), never by a path. The id map (old id → new id, old
login → new login) outlives the runs: a re-run, or next year's run, gives a person the same login.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, or_, select

from ent_migrate.matching.explain import is_founder
from ent_migrate.state._sql import now, table, upsert
from ent_migrate.state.crypto import cipher_of

__all__ = ["Identities"]


class Identities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        cipher = cipher_of(engine)
        # With encryption at rest an INE is only ever compared: a keyed digest stands for it.
        self._ine: Callable[[str], str] = cipher.blind if cipher is not None else str
        self._identities = table("identities")
        self._aliases = table("identity_aliases")
        self._id_map = table("id_map")

    # -- reconcile -----------------------------------------------------------------------------
    def aliased(self, source: str, source_ids: Sequence[str]) -> dict[str, int]:
        """source id → identity id, for the ids this source already has an identity for."""
        aliases = self._aliases
        with self.engine.connect() as conn:
            return {
                r.source_id: r.identity_id
                for r in conn.execute(
                    select(aliases.c.source_id, aliases.c.identity_id).where(
                        aliases.c.source == source, aliases.c.source_id.in_(list(source_ids))
                    )
                )
            }

    def by_ine(self, ines: Iterable[str]) -> dict[str, int]:
        identities = self._identities
        stored = {self._ine(i): i for i in set(ines)}
        if not stored:
            return {}
        query = select(identities.c.ine, identities.c.id).where(identities.c.ine.in_(sorted(stored)))
        with self.engine.connect() as conn:
            return {stored[r.ine]: r.id for r in conn.execute(query)}

    def fresh_canonical(self, source: str, source_ids: Sequence[str]) -> dict[str, str]:
        """The canonical id of the identity each of these source ids would found: the id itself, unless
        an identity already has it, then ``source:id`` (``source:id#2``, … if that is taken too).

        An identity another source founded under the same string is another person until matching says
        otherwise (two schools' ``ELEVE_ID`` may be equal): a shared id never joins by itself."""
        out: dict[str, str] = {}
        todo = list(dict.fromkeys(source_ids))
        n = 0
        while todo:
            wanted = {k: k if n == 0 else f"{source}:{k}" if n == 1 else f"{source}:{k}#{n}" for k in todo}
            taken = set(self.ids_of(wanted.values())) | (set(source_ids) - set(todo)) | set(out.values())
            # One source's id may spell another's fallback ("siecle:7" next to "7"): never two founders under one id.
            if n:
                taken |= set(source_ids)
            out.update({k: c for k, c in wanted.items() if c not in taken})
            todo = [k for k in todo if k not in out]
            n += 1
        return out

    def add(self, source: str, fresh: Sequence[tuple[str, str, str, str | None]], joined: Mapping[str, int]) -> None:
        """New identities (canonical id, the founding source id, profile, INE), and aliases for them and
        for *joined* (source id → an existing identity), in one transaction."""
        identities, aliases = self._identities, self._aliases
        with self.engine.begin() as conn:
            upsert(
                conn,
                identities,
                [
                    {"canonical_id": c, "profile": p, "ine": self._ine(i) if i else None, "created_at": now()}
                    for c, _, p, i in fresh
                ],
                ["canonical_id"],
                [],
            )
            founders = {c: key for c, key, _, _ in fresh}
            ids: dict[str, int] = (
                {
                    founders[c]: ident
                    for c, ident in conn.execute(
                        select(identities.c.canonical_id, identities.c.id).where(
                            identities.c.canonical_id.in_(list(founders))
                        )
                    ).all()
                }
                if founders
                else {}
            )
            ids.update(joined)
            upsert(
                conn,
                aliases,
                [{"identity_id": ident, "source": source, "source_id": key} for key, ident in ids.items()],
                ["source", "source_id"],
                [],
            )

    # -- matching facts and blocking keys --------------------------------------------------------
    def _block(self, block: str) -> str:
        # Keyed with encryption at rest (a name + birth date is guessable); else the payloads are
        # plain in the store anyway and a plain digest only keeps the column short.
        if self._ine is not str:
            return self._ine("block|" + block)
        return hashlib.sha256(block.encode("utf-8")).hexdigest()[:24]

    def candidates(self, blocks: Iterable[str]) -> dict[str, dict[str, Any]]:
        """canonical id → stored facts, for the identities sharing one of these blocking keys."""
        digests = sorted({self._block(b) for b in blocks})
        if not digests:
            return {}
        ids, bl, facts = self._identities, table("identity_blocks"), table("identity_facts")
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(digests), 500):
                # Each identity once through an IN subquery, not a DISTINCT: PostgreSQL has no equality
                # operator for json, so DISTINCT over the facts column fails there.
                sharing = select(bl.c.identity_id).where(bl.c.block.in_(digests[start : start + 500]))
                query = (
                    select(ids.c.canonical_id, facts.c.facts)
                    .join(facts, facts.c.identity_id == ids.c.id)
                    .where(ids.c.id.in_(sharing))
                )
                out.update({r.canonical_id: r.facts for r in conn.execute(query) if r.facts is not None})
        return out

    def add_facts(self, rows: Mapping[str, tuple[Mapping[str, Any] | None, Sequence[str]]]) -> None:
        """canonical id → (facts to keep or None to leave them, blocking keys to add)."""
        if not rows:
            return
        ids, bl, facts = self._identities, table("identity_blocks"), table("identity_facts")
        with self.engine.begin() as conn:
            by_canonical = dict(
                conn.execute(select(ids.c.canonical_id, ids.c.id).where(ids.c.canonical_id.in_(list(rows)))).all()
            )
            upsert(
                conn,
                facts,
                [
                    {"identity_id": by_canonical[c], "facts": dict(f)}
                    for c, (f, _) in rows.items()
                    if f is not None and c in by_canonical
                ],
                ["identity_id"],
                # A joined identity's facts grow (a guardian's children, how each alias joined): replaced.
                ["facts"],
            )
            upsert(
                conn,
                bl,
                [
                    {"identity_id": by_canonical[c], "block": d}
                    for c, (_, blocks) in rows.items()
                    if c in by_canonical
                    for d in sorted({self._block(b) for b in blocks})
                ],
                ["identity_id", "block"],
                [],
            )

    def canonical_of(self, source: str, source_ids: Sequence[str]) -> dict[str, str]:
        """source id → its identity's canonical id."""
        ids, aliases = self._identities, self._aliases
        with self.engine.connect() as conn:
            return {
                r.source_id: r.canonical_id
                for r in conn.execute(
                    select(aliases.c.source_id, ids.c.canonical_id)
                    .join(ids, ids.c.id == aliases.c.identity_id)
                    .where(aliases.c.source == source, aliases.c.source_id.in_(list(source_ids)))
                )
            }

    def shared_in_run(self, source: str, run_id: str) -> list[list[tuple[int, str, str]]]:
        """The people of this run who share an identity with another of its records: one list of
        (item id, source id, canonical id) per such identity, the identity's founder first if it is
        one of them, else the first item. Only those (a source's duplicates: a few), not the run."""
        ids, aliases, items, facts = self._identities, self._aliases, table("items"), table("identity_facts")
        person = (
            items.c.run_id == run_id,
            items.c.kind == "person",
            items.c.payload.is_not(None),
            aliases.c.source == source,
        )
        shared = (
            select(aliases.c.identity_id)
            .join(items, items.c.key == aliases.c.source_id)
            .where(*person)
            .group_by(aliases.c.identity_id)
            .having(func.count() > 1)
        )
        query = (
            select(items.c.id, items.c.key, ids.c.canonical_id, aliases.c.identity_id, facts.c.facts)
            .join(aliases, aliases.c.source_id == items.c.key)
            .join(ids, ids.c.id == aliases.c.identity_id)
            .outerjoin(facts, facts.c.identity_id == ids.c.id)
            .where(*person, aliases.c.identity_id.in_(shared))
            .order_by(aliases.c.identity_id, items.c.id)
        )
        groups: dict[int, list[tuple[int, str, str, bool]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                founder = is_founder(source, row.key, row.canonical_id, row.facts)
                groups.setdefault(row.identity_id, []).append((row.id, row.key, row.canonical_id, founder))
        return [[m[:3] for m in sorted(g, key=lambda m: (not m[3], m[0]))] for g in groups.values()]

    def facts_of(self, canonical_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids, facts = self._identities, table("identity_facts")
        wanted = sorted(set(canonical_ids))
        if not wanted:
            return {}
        query = (
            select(ids.c.canonical_id, facts.c.facts)
            .join(facts, facts.c.identity_id == ids.c.id)
            .where(ids.c.canonical_id.in_(wanted))
        )
        with self.engine.connect() as conn:
            return {r.canonical_id: r.facts for r in conn.execute(query) if r.facts is not None}

    def id_map_rows(self) -> list[tuple[str, str, str | None, str | None]]:
        """(source, old id, old login, new login), in a stable order, for ``logins export``."""
        m = self._id_map
        with self.engine.connect() as conn:
            return [
                (r.source, r.old_id, r.old_login, r.new_login)
                for r in conn.execute(
                    select(m.c.source, m.c.old_id, m.c.old_login, m.c.new_login).order_by(m.c.source, m.c.old_id)
                )
            ]

    def ids_of(self, canonical_ids: Iterable[str]) -> dict[str, int]:
        ids = self._identities
        wanted = sorted(set(canonical_ids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            return dict(conn.execute(select(ids.c.canonical_id, ids.c.id).where(ids.c.canonical_id.in_(wanted))).all())

    def known(self, person_id: str) -> bool:
        """Is this person id an identity (or an alias) an earlier run already holds?"""
        identities, aliases = self._identities, self._aliases
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(identities.c.id)
                    .outerjoin(aliases, aliases.c.identity_id == identities.c.id)
                    .where(or_(identities.c.canonical_id == person_id, aliases.c.source_id == person_id))
                    .limit(1)
                ).first()
                is not None
            )

    def counts_by_profile(self) -> dict[str, int]:
        identities = self._identities
        with self.engine.connect() as conn:
            return {
                str(p): int(n)
                for p, n in conn.execute(select(identities.c.profile, func.count()).group_by(identities.c.profile))
            }

    # -- logins (id map) -----------------------------------------------------------------------
    def logins(self, source: str, old_ids: Sequence[str]) -> dict[str, str]:
        """old id → the login it was given, for the people of this source that have one."""
        id_map = self._id_map
        with self.engine.connect() as conn:
            return {
                r.old_id: r.new_login
                for r in conn.execute(
                    select(id_map.c.old_id, id_map.c.new_login).where(
                        id_map.c.source == source, id_map.c.old_id.in_(list(old_ids))
                    )
                )
                if r.new_login
            }

    def login_pairs(self, source: str, old_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        """old id → (old login, new login), for the plan report's login column."""
        id_map = self._id_map
        if not old_ids:
            return {}
        with self.engine.connect() as conn:
            return {
                r.old_id: (r.old_login, r.new_login)
                for r in conn.execute(
                    select(id_map.c.old_id, id_map.c.old_login, id_map.c.new_login).where(
                        id_map.c.source == source, id_map.c.old_id.in_(list(old_ids))
                    )
                )
            }

    def logins_taken(self, logins: Iterable[str]) -> set[str]:
        id_map = self._id_map
        wanted = sorted(set(logins))
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(select(id_map.c.new_login).where(id_map.c.new_login.in_(wanted))).scalars())

    def add_logins(self, source: str, rows: Sequence[tuple[str, str | None, str]]) -> None:
        """(old id, old login, new login): kept for good."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(
                self._id_map.insert(),
                [
                    {
                        "source": source,
                        "old_id": old_id,
                        "new_id": old_id,
                        "old_login": old_login,
                        "new_login": login,
                        "created_at": now(),
                    }
                    for old_id, old_login, login in rows
                ],
            )

    def id_map_size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self._id_map)).scalar() or 0)
