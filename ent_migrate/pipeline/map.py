"""map: apply the declarative mapping — logins first — and store each item's expected target record.

Logins are deterministic and collision-safe, and once given they are kept forever in the id map
(keyed by the configured source name and the person's own id, never by a path): a re-run, a
re-delivery under another file name, or next year's run gives a person the same login. A source login
is kept when it is valid for the target and free; otherwise one is built from the mapping's template,
ASCII-folded, and suffixed on collision (jean.martin, jean.martin2, ...).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ent_migrate.contract import TargetRules
from ent_migrate.mapping import MappingSpec
from ent_migrate.model import RecordKind
from ent_migrate.pipeline.context import PipelineContext
from ent_migrate.state.identities import Identities

__all__ = ["build_login", "map_records"]

_NOT_LOGIN = re.compile(r"[^a-z0-9]+")


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

    def __init__(self, identities: Identities, ctx: PipelineContext, next_suffix: dict[str, int]) -> None:
        self.identities, self.ctx = identities, ctx
        # base login -> the suffix to probe first. Kept for the whole stage: a common name has
        # thousands of homonyms in an académie, and probing from 2 each time would be quadratic.
        self.next_suffix = next_suffix
        self.rules = ctx.target.rules()
        self.max_length = min(ctx.mapping.login_max_length, self.rules.login_max_length or ctx.mapping.login_max_length)

    def assign(self, people: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        source = self.ctx.source_name
        known = self.identities.logins(source, [key for key, _ in people])
        wanted: dict[str, list[str]] = {}  # key -> candidate logins in order of preference
        for key, payload in people:
            if key in known:
                continue
            old = payload.get("login")
            base = build_login(payload, self.ctx.mapping, self.max_length)
            wanted[key] = ([old] if old and _valid(old, self.rules, self.max_length) else []) + [base]
        taken = self.identities.logins_taken({c for cands in wanted.values() for c in cands})
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
            rows.append((key, payload.get("login"), login))
        self.identities.add_logins(source, rows)
        return known

    def _suffixed(self, base: str, taken: set[str]) -> str:
        """base2, base3, ...: the first free one. Candidates are probed a hundred at a time through the
        unique index on new_login — a LIKE 'base%' scan would make a district of a million quadratic."""
        start = self.next_suffix.get(base, 2)
        while True:
            candidates = []
            for n in range(start, start + 100):
                suffix = str(n)
                candidates.append((n, base[: self.max_length - len(suffix)] + suffix))
            used = taken | self.identities.logins_taken({c for _, c in candidates})
            for n, candidate in candidates:
                if candidate not in used:
                    self.next_suffix[base] = n + 1
                    return candidate
            start += 100


def map_records(ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    counts: dict[str, int] = {"mapped": 0, "logins_kept": 0, "logins_built": 0}
    next_suffix: dict[str, int] = {}
    # Only people change in mapping (logins); every other record is expected on the target as it came
    # from the source, which one statement copies.
    counts["mapped"] += ctx.state.items.expect_as_extracted(run_id, except_kind=RecordKind.PERSON)
    with ctx.progress("map", None) as advance:
        for rows in ctx.state.items.scan_source(run_id, RecordKind.PERSON):
            logins = _Logins(ctx.state.identities, ctx, next_suffix).assign([(key, p) for _, key, p in rows])
            expected = []
            for item_id, key, source_payload in rows:
                payload = dict(source_payload)
                login = logins[key]
                counts["logins_kept" if login == payload.get("login") else "logins_built"] += 1
                payload["login"] = login
                expected.append((item_id, payload))
                counts["mapped"] += 1
            ctx.state.items.set_expected(expected)
            advance(len(rows))
    return counts
