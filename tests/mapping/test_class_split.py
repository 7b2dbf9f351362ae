"""How a split class shares its pupils out: alphabetical parts as even as possible, whatever the order
the pupils come in; or exactly the listed parts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.errors import ConfigError
from ent_migrate.mapping import ClassSplit
from ent_migrate.pipeline.map_classes import share_out

NAMES = st.sampled_from(["Martin", "martin", "Émile", "Zoé", "Abel", "De La Fontaine", "N'Diaye", ""])
PUPILS = st.lists(st.tuples(NAMES, NAMES), max_size=40)


def _pupils(names: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"p{i}", {"last_name": last, "first_name": first}) for i, (last, first) in enumerate(names)]


@given(PUPILS, st.integers(2, 5), st.randoms())
def test_alphabetical_parts_are_even_ordered_and_independent_of_input_order(
    names: list[tuple[str, str]], parts: int, rnd: Any
) -> None:
    split = ClassSplit(tuple(f"P{i}" for i in range(parts)), "alphabetical", {}, "m.toml:3")
    pupils = _pupils(names)
    out = share_out(split, pupils, "CP A")
    shuffled = list(pupils)
    rnd.shuffle(shuffled)
    assert share_out(split, shuffled, "CP A") == out
    assert set(out) == {pid for pid, _ in pupils}
    sizes = [sum(1 for part in out.values() if part == p) for p in split.into]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_listed_parts_are_followed_and_an_unlisted_pupil_is_refused() -> None:
    split = ClassSplit(("A", "B"), "listed", {"p0": "B", "p1": "A"}, "m.toml:7")
    assert share_out(split, _pupils([("x", "y"), ("z", "w")]), "CE1") == {"p0": "B", "p1": "A"}
    with pytest.raises(ConfigError, match=r"^m\.toml:7: 1 pupil\(s\) of class CE1"):
        share_out(split, _pupils([("x", "y"), ("z", "w"), ("u", "v")]), "CE1")
