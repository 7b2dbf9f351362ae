"""Every trap with a unique answer is resolved exactly; the others go to the review queue."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.fixtures.traps import Trap, children_of, traps
from ent_migrate.matching import Correlator, PersonFacts
from ent_migrate.model import Person

TRAPS = traps()


def _facts(person: Person) -> PersonFacts:
    return PersonFacts.from_payload(person.id, person.to_dict(), children_ines=children_of().get(person.id, ()))


def _reconcile(people: Sequence[Person]) -> tuple[dict[str, str], set[str]]:
    """person id → identity (the first id of it), and the ids that went to review."""
    correlator = Correlator()
    identity: dict[str, str] = {}
    reviewed: set[str] = set()
    for person in people:
        facts = _facts(person)
        result = correlator.correlate(facts)
        if result.decision == "match" and result.identity is not None:
            identity[person.id] = identity[result.identity]
        else:
            identity[person.id] = person.id
            if result.decision == "review":
                reviewed.add(person.id)
        correlator.add(facts)
    return identity, reviewed


def _check(trap: Trap, identity: dict[str, str], reviewed: set[str]) -> None:
    ids = [p.id for _, p in trap.people]
    if trap.answer == "review":
        assert reviewed & set(ids), f"{trap.name}: should have gone to review"
        return
    assert not reviewed & set(ids), f"{trap.name}: sent to review but has a unique answer"
    groups = {identity[i] for i in ids}
    if trap.answer == "same":
        assert len(groups) == 1, f"{trap.name}: missed merge"
    else:
        assert len(groups) == len(ids), f"{trap.name}: false merge"


@pytest.mark.parametrize("trap", TRAPS, ids=[t.name for t in TRAPS])
def test_each_trap_alone(trap: Trap) -> None:
    identity, reviewed = _reconcile([p for _, p in trap.people])
    _check(trap, identity, reviewed)


def test_all_traps_together_do_not_interfere() -> None:
    identity, reviewed = _reconcile([p for t in TRAPS for _, p in t.people])
    for trap in TRAPS:
        _check(trap, identity, reviewed)


@settings(max_examples=50, deadline=None)
@given(st.permutations([p for t in TRAPS for _, p in t.people]))
def test_reconciliation_does_not_depend_on_input_order(people: list[Person]) -> None:
    identity, reviewed = _reconcile(people)
    for trap in TRAPS:
        _check(trap, identity, reviewed)
