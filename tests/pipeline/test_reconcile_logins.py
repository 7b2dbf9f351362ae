"""Login generation properties (hypothesis): deterministic, collision-free, stable for existing people."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.pipeline.map import _Logins
from tests.pipeline._helpers import context

NAMES = st.sampled_from(
    ["Martin", "Léa", "N'Diaye", "De La Fontaine", "Delafontaine", "Zoé", "Núñez", "Ö", "-", "Le Goff"]
)
PEOPLE = st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=25)


def _assign(batches: list[list[tuple[str, str]]]) -> list[dict[str, str]]:
    """Each batch is a later run adding people: keys are p0, p1, ... across batches."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        suffixes: dict[str, int] = {}
        out: list[dict[str, str]] = []
        n = 0
        for batch in batches:
            people: list[tuple[str, dict[str, Any]]] = []
            for last, first in batch:
                people.append((f"p{n}", {"last_name": last, "first_name": first, "profile": "student"}))
                n += 1
            out.append(_Logins(ctx.state.identities, ctx, suffixes).assign(people))
        ctx.state.engine.dispose()
        return out


@settings(max_examples=10, deadline=None)
@given(PEOPLE, PEOPLE)
def test_logins_are_deterministic_unique_and_stable(first: list[tuple[str, str]], later: list[tuple[str, str]]) -> None:
    [alone] = _assign([first])
    assert _assign([first]) == [alone]  # deterministic
    assert len(set(alone.values())) == len(alone)  # collision-free
    assert all(login.isascii() for login in alone.values())
    before, after = _assign([first, later])
    assert before == alone  # the first people keep their logins when others are added
    everyone = {**before, **after}
    assert len(set(everyone.values())) == len(everyone)


def _reference(ctx: Any, batches: list[list[tuple[str, dict[str, Any]]]]) -> list[dict[str, str]]:
    """The login rule written plainly, one person at a time against every login given so far."""
    from ent_migrate.pipeline.map import _valid, build_login

    probe = _Logins(ctx.state.identities, ctx, {})
    used: set[str] = set()
    next_suffix: dict[str, int] = {}
    out = []
    for batch in batches:
        given_here: dict[str, str] = {}
        for key, payload in batch:
            old = payload.get("login")
            base = build_login(payload, ctx.mapping, probe.max_length)
            cands = ([old] if old and _valid(old, probe.rules, probe.max_length) else []) + [base]
            login = next((c for c in cands if c not in used), None)
            n = next_suffix.get(base, 2)
            while login is None:
                candidate = base[: probe.max_length - len(str(n))] + str(n)
                n += 1
                if candidate not in used:
                    login, next_suffix[base] = candidate, n
            used.add(login)
            given_here[key] = login
        out.append(given_here)
    return out


def test_many_homonyms_get_the_suffixes_the_plain_rule_gives() -> None:
    """Past a probed window (over a hundred homonyms) and with source logins sitting on suffixes that
    later homonyms would take, batch probing gives what one-person-at-a-time assignment gives."""
    people = [{"last_name": "Martin", "first_name": "Léa", "profile": "student"} for _ in range(260)]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        from ent_migrate.pipeline.map import build_login

        probe = _Logins(ctx.state.identities, ctx, {})
        login_base = build_login(people[0], ctx.mapping, probe.max_length)
        plain = [dict(p) for p in people]
        for i in (5, 103, 104, 230):  # their own source login is the suffix a homonym before them would take
            plain[i]["login"] = f"{login_base}{i - 1}"
        batches = [
            [(f"p{i}", p) for i, p in enumerate(plain[:120])],
            [(f"p{i}", p) for i, p in enumerate(plain[120:], start=120)],
        ]
        suffixes: dict[str, int] = {}
        got = [_Logins(ctx.state.identities, ctx, suffixes).assign(batch) for batch in batches]
        ctx.state.engine.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        want = _reference(ctx, batches)
        ctx.state.engine.dispose()
    assert got == want
    everyone = {**got[0], **got[1]}
    assert len(set(everyone.values())) == len(everyone) == 260
