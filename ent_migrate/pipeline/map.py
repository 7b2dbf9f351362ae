"""map: apply the declarative mapping — logins first — and store each item's expected target record.

Logins are deterministic and collision-safe, and once given they are kept forever in the id map
(keyed by the configured source name and the person's own id, never by a path): a re-run, a
re-delivery under another file name, or next year's run gives a person the same login. A source login
is kept when the mapping allows it (``[login] keep_existing``) and it is valid for the target and
free; otherwise one is built from the mapping's template, ASCII-folded, cut to the maximum length and
suffixed on collision (jean.martin, jean.martin2, ...), and the old login stays in the id map as the
person's alias (``logins export``).

Then the mapping's ``[transforms.person]`` change the expected records (matching has already seen
the source's values), and its class renames and splits and ``[transforms.group]`` are applied
(:mod:`ent_migrate.pipeline.map_classes`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from ent_migrate.contract import TargetRules
from ent_migrate.mapping import MappingSpec, Step, apply_steps
from ent_migrate.matching.normalise import fold_ascii
from ent_migrate.model import RecordKind
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.pipeline.map_accounts import fold_people, merged_person
from ent_migrate.pipeline.map_classes import drop_replaced, split_and_rename, transform_groups
from ent_migrate.state.identities import Identities, target_source

__all__ = ["build_login", "map_records"]

_NOT_LOGIN = re.compile(r"[^a-z0-9]+")
_WINDOW = 100  # collision suffixes probed at a time for one base
# ... and for each base of a batch at once: the next free suffix is almost always the first one (the
# stage remembers where each base got to), and a bound parameter costs SQLAlchemy a few microseconds.
_PREFETCH = 4


# Cached: every person's first and last names are folded (a tenth of map at 100k accounts), and names
# repeat a lot. Bounded, as fold_name's cache is.
@functools.lru_cache(maxsize=1 << 16)
def _ascii(text: str) -> str:
    folded = fold_ascii(text.replace("'", "").replace("’", ""))  # "Œ" is "oe", not dropped
    return _NOT_LOGIN.sub("-", folded.lower()).strip("-")


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

    def __init__(self, identities: Identities, ctx: PipelineContext, next_suffix: dict[str, int]) -> None:
        self.identities, self.ctx = identities, ctx
        # base login -> the suffix to probe first. Kept for the whole stage: a common name has
        # thousands of homonyms in an académie, and probing from 2 each time would be quadratic.
        self.next_suffix = next_suffix
        self.rules = ctx.target.rules()
        self.max_length = min(ctx.mapping.login_max_length, self.rules.login_max_length or ctx.mapping.login_max_length)
        # base login -> (first suffix of a probed window, its end, the window's logins the store already
        # holds), read during this batch; the batch's own logins are in assign's ``taken``.
        self._windows: dict[str, tuple[int, int, set[str]]] = {}

    def assign(
        self, people: list[tuple[str, dict[str, Any]]], inherited: Mapping[str, tuple[str, str]] | None = None
    ) -> dict[str, str]:
        """key → login for each person. *inherited* are accounts whose login is kept under another
        source or id (account key → (source, id)): an earlier run's, the target's own, or this
        source's under ``source:id``; a login built for one is kept under that source id."""
        source = self.ctx.source_name
        inherited = inherited or {}
        known = self.identities.logins(source, [key for key, _ in people])
        by_source: dict[str, dict[str, str]] = {}  # login source -> its id -> account key
        for key, _ in people:
            if key in inherited and key not in known:
                login_source, old_id = inherited[key]
                by_source.setdefault(login_source, {})[old_id] = key
        for login_source, accounts in by_source.items():
            found = self.identities.logins(login_source, list(accounts))
            known |= {accounts[old_id]: login for old_id, login in found.items()}
        # An account the target holds under the person's own key is theirs (reconcile joins them; plan
        # updates it): an ENT fed from the same export, or a state store rebuilt after a migration.
        # Its login stays, as an inherited one does: built afresh, it would find the target's login
        # taken (by the target itself) and rename every such account.
        own = [key for key, _ in people if key not in known and key not in inherited]
        if own:
            known |= self.identities.logins(target_source(self.ctx.target_name), own)
        wanted: dict[str, list[str]] = {}  # key -> candidate logins in order of preference
        for key, payload in people:
            if key in known:
                continue
            old = str(payload.get("login") or "")
            base = build_login(payload, self.ctx.mapping, self.max_length)
            keep = old and self.ctx.mapping.login_keep_existing and _valid(old, self.rules, self.max_length)
            wanted[key] = ([old] if keep else []) + [base]
        taken = self.identities.logins_taken({c for cands in wanted.values() for c in cands})
        # Homonyms: one query for the suffix windows of every base this batch already knows it needs
        # (a third of an académie), not one per person (issue 15: 35,000 queries, half of map's time).
        self._probe({cands[-1] for cands in wanted.values() if all(c in taken for c in cands)})
        rows: list[tuple[str, str | None, str]] = []
        for key, payload in people:
            if key in known:
                continue
            cands = wanted[key]
            login = next((c for c in cands if c not in taken), None)
            if login is None:
                login = self._suffixed(cands[-1], taken)
            taken.add(login)
            known[key] = login
            # A login built for an account kept under this source's id is kept under that id.
            login_source, old_id = inherited.get(key, (source, key))
            rows.append((old_id if login_source == source else key, payload.get("login"), login))
        self.identities.add_logins(source, rows)
        return known

    def _suffix(self, base: str, n: int) -> str:
        suffix = str(n)
        return base[: self.max_length - len(suffix)] + suffix

    def _probe(self, bases: set[str]) -> None:
        """Read, in one query, which logins of each base's next few suffixes the store holds."""
        windows = {base: self.next_suffix.get(base, 2) for base in bases}
        held = self.identities.logins_taken(
            {self._suffix(base, n) for base, start in windows.items() for n in range(start, start + _PREFETCH)}
        )
        for base, start in windows.items():
            self._windows[base] = (start, start + _PREFETCH, held)

    def _suffixed(self, base: str, taken: set[str]) -> str:
        """base2, base3, ...: the first free one. Candidates are probed a window at a time through the
        unique index on new_login — a LIKE 'base%' scan would make a district of a million quadratic."""
        start = self.next_suffix.get(base, 2)
        while True:
            window = self._windows.get(base)
            if window is None or not window[0] <= start < window[1]:
                held = self.identities.logins_taken({self._suffix(base, n) for n in range(start, start + _WINDOW)})
                window = self._windows[base] = (start, start + _WINDOW, held)
            _, end, held = window
            for n in range(start, end):
                candidate = self._suffix(base, n)
                if candidate not in taken and candidate not in held:
                    self.next_suffix[base] = n + 1
                    return candidate
            start = end


def _transformed(payload: dict[str, Any], steps: Mapping[str, tuple[Step, ...]]) -> dict[str, Any]:
    for field, field_steps in steps.items():
        value = payload.get(field)
        if isinstance(value, str):
            payload[field] = apply_steps(value, field_steps)
        elif isinstance(value, list | tuple):
            payload[field] = [apply_steps(v, field_steps) if isinstance(v, str) else v for v in value]
    return payload


def map_records(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    counts: dict[str, int] = {"mapped": 0, "logins_kept": 0, "logins_built": 0}
    next_suffix: dict[str, int] = {}
    # Renamed and split classes are new items: added before the copy below so that it covers them.
    replaced, class_counts = split_and_rename(ctx, run_id)
    # One account per identity: what refers to a person's second record is rewritten onto the first.
    folds = fold_people(ctx, run_id, set(replaced))
    # Only people change in mapping (logins); every other record is expected on the target as it came
    # from the source, which one statement copies.
    counts["mapped"] += ctx.state.items.expect_as_extracted(run_id, except_kind=RecordKind.PERSON)
    drop_replaced(ctx, replaced)
    ctx.state.items.drop_expected([*folds.people, *folds.rewritten], "identity")
    counts |= {k: v for k, v in folds.counts().items() if v}
    counts |= {k: v for k, v in class_counts.items() if v}
    if groups := transform_groups(ctx, run_id, ctx.mapping, set(replaced)):
        counts["groups_transformed"] = groups
    person_steps = ctx.mapping.transforms.get("person", {})
    with ctx.progress("map", None) as advance:
        for batch in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
            # A person folded onto another record's account gets no login nor account of their own.
            rows = [r for r in batch if r[0] not in folds.people]
            logins = _Logins(ctx.state.identities, ctx, next_suffix).assign(
                [(key, p) for _, key, p in rows], folds.inherited
            )
            expected = []
            for item_id, key, source_payload in rows:
                if key in folds.onto:
                    source_payload = merged_person(source_payload, folds.onto[key])
                payload = _transformed(dict(source_payload), person_steps)
                login = logins[key]
                counts["logins_kept" if login == payload.get("login") else "logins_built"] += 1
                payload["login"] = login
                expected.append((item_id, payload))
                counts["mapped"] += 1
            ctx.state.items.set_expected(expected)
            advance(len(batch))
    return counts
