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
