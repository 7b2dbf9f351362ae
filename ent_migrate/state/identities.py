"""Identities, their aliases per source, and the id/login map kept for good.

An identity is one person across runs and sources. Each source's id for that person is an alias keyed
by the configured source name (``[source.NAME]``), never by a path. The id map (old id → new id, old
login → new login) outlives the runs: a re-run, or next year's run, gives a person the same login.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select

from ent_migrate.matching.explain import is_founder
from ent_migrate.state._blocks import RunBlocks, move_pending
from ent_migrate.state._sql import among, insert_rows, now, table, upsert
from ent_migrate.state.crypto import cipher_of
from ent_migrate.state.review import queue_entries

__all__ = ["Identities", "target_source"]


def target_source(target_name: str) -> str:
    """The alias source under which a target's own accounts are kept: ``@`` and the target's name (a
    configured source's name is a TOML key, which cannot hold ``@`` unless quoted on purpose)."""
    return f"@{target_name}"


class Identities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        cipher = cipher_of(engine)
        # With encryption at rest an INE is only ever compared: a keyed digest stands for it.
        self._ine: Callable[[str], str] = cipher.blind if cipher is not None else str
        self._identities = table("identities")
        self._aliases = table("identity_aliases")
        self._id_map = table("id_map")
        # reconcile probes a batch's blocking keys (candidates) and then adds the same keys (add_facts):
        # each is hashed (or HMACed) once. Bounded: a batch holds a few thousand keys.
        self._block = functools.lru_cache(maxsize=16_384)(self._digest)
        self._run_blocks: RunBlocks | None = None  # within deferred_blocks(): this reconcile's keys

    @contextlib.contextmanager
    def deferred_blocks(self) -> Iterator[None]:
        """Within: the blocking keys kept wait in ``identity_blocks_pending`` (and a private index that
        :meth:`candidates` reads) instead of going into ``identity_blocks`` a batch at a time; they go
        there in one sorted insert on the way out (:mod:`ent_migrate.state._blocks`). Keys a stopped
        reconcile left pending are moved first. On an error they stay pending, for the next one."""
        move_pending(self.engine)
        self._run_blocks = RunBlocks()
        try:
            yield
            move_pending(self.engine)
        finally:
            self._run_blocks.close()
            self._run_blocks = None

    # -- reconcile -----------------------------------------------------------------------------
    def aliased(self, source: str, source_ids: Sequence[str]) -> dict[str, int]:
        """source id → identity id, for the ids this source already has an identity for."""
        aliases = self._aliases
        with self.engine.connect() as conn:
            return {
                r.source_id: r.identity_id
                for r in conn.execute(
                    select(aliases.c.source_id, aliases.c.identity_id).where(
                        aliases.c.source == source, among(self.engine, aliases.c.source_id, source_ids)
                    )
                )
            }

    def by_ine(self, ines: Iterable[str]) -> dict[str, int]:
        identities = self._identities
        stored = {self._ine(i): i for i in set(ines)}
        if not stored:
            return {}
        query = select(identities.c.ine, identities.c.id).where(among(self.engine, identities.c.ine, sorted(stored)))
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
        with self.engine.begin() as conn:
            self._add(conn, source, fresh, joined)

    def keep_batch(
        self,
        source: str,
        fresh: Sequence[tuple[str, str, str, str | None]],
        joined: Mapping[str, int],
        joining: Mapping[str, str],
        facts: Mapping[str, tuple[Mapping[str, Any] | None, Sequence[str]]],
        queued: Sequence[Mapping[str, Any]],
    ) -> None:
        """One reconcile batch's outcome in one transaction: the new identities, the aliases of *fresh*,
        of *joined* (source id → an identity's id) and of *joining* (source id → the canonical id of
        the identity it joins, founded in this batch or before), the facts and blocking keys (as
        :meth:`add_facts`), and the review entries.

        All or nothing, because a re-run skips the people already aliased: kept one by one, a stop
        after the aliases lost those people's facts, blocking keys and review entries for good."""
        with self.engine.begin() as conn:
            self._add(conn, source, fresh, joined)
            # After the fresh ones: a person may join an identity founded earlier in the same batch.
            targets = self._ids_of(conn, joining.values())
            self._add(conn, source, [], {k: targets[c] for k, c in joining.items()})
            self._add_facts(conn, facts)
            if queued:
                queue_entries(conn, queued)

    def _add(
        self,
        conn: Connection,
        source: str,
        fresh: Sequence[tuple[str, str, str, str | None]],
        joined: Mapping[str, int],
    ) -> None:
        identities, aliases = self._identities, self._aliases
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
                        among(self.engine, identities.c.canonical_id, founders)
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
    def _digest(self, block: str) -> str:
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
        facts_of = select(ids.c.canonical_id, facts.c.facts).join(facts, facts.c.identity_id == ids.c.id)
        # This reconcile's own keys, not in identity_blocks yet: their identities' ids.
        ours = sorted(self._run_blocks.identities(digests)) if self._run_blocks is not None else []
        with self.engine.connect() as conn:
            for start in range(0, len(digests), 500):
                # Each identity once through an IN subquery, not a DISTINCT: PostgreSQL has no equality
                # operator for json, so DISTINCT over the facts column fails there.
                sharing = select(bl.c.identity_id).where(among(conn, bl.c.block, digests[start : start + 500]))
                query = facts_of.where(ids.c.id.in_(sharing))
                out.update({r.canonical_id: r.facts for r in conn.execute(query) if r.facts is not None})
            if ours:  # among binds the ids as one value, however many
                query = facts_of.where(among(conn, ids.c.id, ours))
                out.update({r.canonical_id: r.facts for r in conn.execute(query) if r.facts is not None})
        return out

    def add_facts(self, rows: Mapping[str, tuple[Mapping[str, Any] | None, Sequence[str]]]) -> None:
        """canonical id → (facts to keep or None to leave them, blocking keys to add)."""
        with self.engine.begin() as conn:
            self._add_facts(conn, rows)

    def _add_facts(self, conn: Connection, rows: Mapping[str, tuple[Mapping[str, Any] | None, Sequence[str]]]) -> None:
        if not rows:
            return
        ids, bl, facts = self._identities, table("identity_blocks"), table("identity_facts")
        by_canonical = dict(
            conn.execute(select(ids.c.canonical_id, ids.c.id).where(among(conn, ids.c.canonical_id, rows))).all()
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
        kept = [
            (by_canonical[c], d)
            for c, (_, blocks) in rows.items()
            if c in by_canonical
            for d in sorted({self._block(b) for b in blocks})
        ]
        if self._run_blocks is not None:
            self._run_blocks.keep(conn, kept)
            return
        upsert(conn, bl, [{"identity_id": i, "block": d} for i, d in kept], ["block", "identity_id"], [])

    def with_alias(self, source: str, canonical_ids: Iterable[str]) -> set[str]:
        """Those of these identities that have an alias of *source*."""
        ids, aliases = self._identities, self._aliases
        wanted = sorted(set(canonical_ids))
        if not wanted:
            return set()
        query = (
            select(ids.c.canonical_id)
            .join(aliases, aliases.c.identity_id == ids.c.id)
            .where(aliases.c.source == source, among(self.engine, ids.c.canonical_id, wanted))
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def canonical_of(self, source: str, source_ids: Sequence[str]) -> dict[str, str]:
        """source id → its identity's canonical id."""
        ids, aliases = self._identities, self._aliases
        with self.engine.connect() as conn:
            return {
                r.source_id: r.canonical_id
                for r in conn.execute(
                    select(aliases.c.source_id, ids.c.canonical_id)
                    .join(ids, ids.c.id == aliases.c.identity_id)
                    .where(aliases.c.source == source, among(self.engine, aliases.c.source_id, source_ids))
                )
            }

    def _people_of_run(self, source: str, run_id: str) -> tuple[Any, ...]:
        """The WHERE of a query over this run's people (``items``) joined to their aliases of *source*."""
        items, aliases = table("items"), self._aliases
        return (
            items.c.run_id == run_id,
            items.c.kind == "person",
            items.c.payload.is_not(None),
            aliases.c.source == source,
        )

    def shared_in_run(self, source: str, run_id: str) -> list[list[tuple[int, str, str]]]:
        """The people of this run who share an identity with another of its records: one list of
        (item id, source id, canonical id) per such identity, the identity's founder first if it is
        one of them, else the first item. Only those (a source's duplicates: a few), not the run."""
        ids, aliases, items, facts = self._identities, self._aliases, table("items"), table("identity_facts")
        person = self._people_of_run(source, run_id)
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

    def founded_elsewhere(self, source: str, run_id: str, target: str) -> dict[str, tuple[str, str, str]]:
        """The people of this run whose account on *target* is under another key than their own id:
        source id → (the account's key, then the source and id its login is kept under).

        - The identity another record founded in an earlier run into *target*: its founder's account
          (another source's, or this source's under last year's id).
        - The identity this very record founded under ``source:id`` because another identity had the
          id (two sources' pupils under one ``ELEVE_ID``): the account takes the canonical id, so that
          it never lands on the other person's account.

        A re-run of the same source, where each person founded their identity under their own id,
        gives none (one query, those rows filtered out by their canonical id)."""
        ids, aliases, items, facts, runs = (
            self._identities,
            self._aliases,
            table("items"),
            table("identity_facts"),
            table("runs"),
        )
        query = (
            select(items.c.key, ids.c.canonical_id, facts.c.facts)
            .join(aliases, aliases.c.source_id == items.c.key)
            .join(ids, ids.c.id == aliases.c.identity_id)
            .join(facts, facts.c.identity_id == ids.c.id)
            .where(
                *self._people_of_run(source, run_id),
                # Founded under its own id in the common case: its own account, not read.
                ids.c.canonical_id != items.c.key,
            )
        )
        found: dict[str, tuple[str, str, str]] = {}
        renamed: dict[str, tuple[str, str, str]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                founder = (row.facts or {}).get("founder")
                if not (isinstance(founder, list) and len(founder) > 2):
                    continue  # kept before founders were: nothing to say where its account is
                if (founder[0], founder[1]) == (source, row.key):
                    renamed[row.key] = (str(row.canonical_id), source, row.key)
                elif founder[2] != run_id:  # founded in this run: a fold within the run (map_accounts)
                    found[row.key] = (str(founder[0]), str(founder[1]), str(founder[2]))
            wanted = sorted({f[2] for f in found.values()})
            same_target = set(
                conn.execute(select(runs.c.id).where(runs.c.id.in_(wanted), runs.c.target_name == target)).scalars()
            )
        return renamed | {key: (f[1], f[0], f[1]) for key, f in found.items() if f[2] in same_target}

    def accounts_on_target(self, source: str, run_id: str, target: str) -> dict[str, str]:
        """The people of this run whose identity has an account on the target under another key, and
        none under their own id: source id → that account's key (the smallest, when the target holds
        the person twice). *target* is the target's alias source (:func:`target_source`)."""
        aliases, items = self._aliases, table("items")
        theirs, own = aliases.alias("theirs"), aliases.alias("own")
        # The target holds the person under their own id as well: that account is theirs already.
        on_own_id = (
            select(own.c.identity_id)
            .where(own.c.source == target, own.c.source_id == items.c.key, own.c.identity_id == aliases.c.identity_id)
            .exists()
        )
        query = (
            select(items.c.key, func.min(theirs.c.source_id))
            .join(aliases, aliases.c.source_id == items.c.key)
            .join(theirs, theirs.c.identity_id == aliases.c.identity_id)
            .where(
                *self._people_of_run(source, run_id),
                theirs.c.source == target,
                theirs.c.source_id != items.c.key,
                ~on_own_id,
            )
            .group_by(items.c.key)
        )
        with self.engine.connect() as conn:
            return {str(key): str(account) for key, account in conn.execute(query)}

    def facts_of(self, canonical_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids, facts = self._identities, table("identity_facts")
        wanted = sorted(set(canonical_ids))
        if not wanted:
            return {}
        query = (
            select(ids.c.canonical_id, facts.c.facts)
            .join(facts, facts.c.identity_id == ids.c.id)
            .where(among(self.engine, ids.c.canonical_id, wanted))
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
        with self.engine.connect() as conn:
            return self._ids_of(conn, canonical_ids)

    def _ids_of(self, conn: Connection, canonical_ids: Iterable[str]) -> dict[str, int]:
        ids = self._identities
        wanted = sorted(set(canonical_ids))
        if not wanted:
            return {}
        return dict(
            conn.execute(select(ids.c.canonical_id, ids.c.id).where(among(conn, ids.c.canonical_id, wanted))).all()
        )

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
                        id_map.c.source == source, among(self.engine, id_map.c.old_id, old_ids)
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
                        id_map.c.source == source, among(self.engine, id_map.c.old_id, old_ids)
                    )
                )
            }

    def logins_taken(self, logins: Iterable[str]) -> set[str]:
        id_map = self._id_map
        wanted = sorted(set(logins))
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            return set(
                conn.execute(select(id_map.c.new_login).where(among(conn, id_map.c.new_login, wanted))).scalars()
            )

    def add_logins(self, source: str, rows: Sequence[tuple[str, str | None, str]]) -> None:
        """(old id, old login, new login): kept for good."""
        if not rows:
            return
        stamp = now()  # one transaction, one time: and converted once (_sql._bound_columns)
        with self.engine.begin() as conn:
            insert_rows(
                conn,
                self._id_map,
                [
                    {
                        "source": source,
                        "old_id": old_id,
                        "new_id": old_id,
                        "old_login": old_login,
                        "new_login": login,
                        "created_at": stamp,
                    }
                    for old_id, old_login, login in rows
                ],
            )

    def add_target_logins(self, target: str, rows: Sequence[tuple[str, str]]) -> None:
        """(account key, login) of accounts the target already holds: the login stays theirs (a person
        who lands on the account keeps it; a newcomer never gets it). A login the id map gives someone
        already (an account an earlier run made) is noted without being given twice."""
        if not rows:
            return
        taken = self.logins_taken(login for _, login in rows)
        values: dict[str, dict[str, Any]] = {}
        for key, login in rows:
            if key in values:
                continue
            free = login not in taken
            taken.add(login)  # each login once: new_login is unique
            values[key] = {
                "source": target,
                "old_id": key,
                "new_id": key,
                "old_login": login,
                "new_login": login if free else None,
                "created_at": now(),
            }
        with self.engine.begin() as conn:
            upsert(conn, self._id_map, list(values.values()), ["source", "old_id"], [])

    def id_map_size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self._id_map)).scalar() or 0)
