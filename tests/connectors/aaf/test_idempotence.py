"""Issue 8 item 6: reading unchanged input again gives the same records, and nobody is their own guardian.

The 2020 entcore sample lists its pupil as one of its own guardians (``ENTElevePersRelEleve`` =
``2000000$10$...`` for pupil 2000000). The first plan found no such guardian (``ref.dangling``); the
second one asked the state store, which knew person 2000000 — the pupil stored by the first run — and
so emitted a guardianship making the pupil their own guardian. The reader now refuses a self-link
(``record.invalid``) and asks the state store for deltas only (a complete bundle holds every guardian).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.aaf.connector import AafConnector
from ent_migrate.contract import Capability
from ent_migrate.model import Guardianship, Person, Record
from tests.connectors.aaf.helpers import document, etab, guardian, pupil, read_all, write_bundle


def _prints(records: list[Record]) -> list[tuple[str, str, str]]:
    return [(str(r.kind), r.key, r.fingerprint()) for r in records]


def _self_links(records: list[Record]) -> list[Guardianship]:
    return [r for r in records if isinstance(r, Guardianship) and r.guardian_id == r.student_id]


def test_the_2020_sample_reads_the_same_with_a_store_that_knows_everyone(shared_samples: Path) -> None:
    first, problems = read_all(shared_samples / "aaf")
    known = {r.id for r in first if isinstance(r, Person)}
    assert "2000000" in known  # the pupil the second run's state store knows
    again, problems_again = read_all(shared_samples / "aaf", known=known)
    assert _prints(again) == _prints(first)
    assert problems_again == problems
    as_delta, _ = read_all(shared_samples / "aaf", known=lambda ident: True, delta=True)
    assert _self_links(first) == _self_links(again) == _self_links(as_delta) == []


def _reads(folder: Path, delta: bool, known: set[str]) -> tuple[list[Record], list[Record]]:
    """Two reads: one connector read twice (the second from its spools), and a fresh connector."""
    out = []
    for connector in (AafConnector(str(folder), {"delta": delta}), AafConnector(str(folder), {"delta": delta})):
        connector.use_known_people(known.__contains__)
        records = [
            r for cap in (Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS) for r in connector.read(cap)
        ]
        out.append(records)
    return out[0], out[1]


PEOPLE = st.lists(st.integers(100, 120), min_size=1, max_size=8, unique=True)


@settings(max_examples=25, deadline=None)
@given(
    pupils=PEOPLE,
    guardians=st.lists(st.integers(100, 130), max_size=6, unique=True),
    links=st.lists(st.tuples(st.integers(0, 7), st.integers(100, 130)), max_size=12),
    delta=st.booleans(),
)
def test_no_one_is_their_own_guardian_and_a_second_read_is_the_same(
    pupils: list[int], guardians: list[int], links: list[tuple[int, int]], delta: bool
) -> None:
    # Ids drawn from overlapping ranges: pupils linked to themselves, to other pupils, to guardians, to
    # nobody; the store knows every id of a first read (as after a first run), and more.
    parents: dict[int, list[str]] = {p: [] for p in pupils}
    for index, target in links:
        parents[pupils[index % len(pupils)]].append(f"{target}$10$0$1$0$0")
    own = [g for g in guardians if g not in parents]  # a guardian id is not also a pupil's
    files = {
        "EtabEducNat": document([etab()]),
        "PersRelEleve": document([guardian(str(g)) for g in own]),
        "Eleve": document([pupil(str(p), parents=parents[p]) for p in pupils]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_bundle(Path(tmp), files, kind="Delta" if delta else "Complet")
        first, _ = read_all(folder)
        known = {r.id for r in first if isinstance(r, Person)} | {str(i) for i in range(100, 131)}
        once, twice = _reads(folder, delta, known)
        third, _ = read_all(folder)
    for records in (first, once, twice, third):
        assert _self_links(records) == []
    assert _prints(third) == _prints(first)  # unchanged input, no store: the same records
    assert _prints(once) == _prints(twice)  # with the store: the same records on every read
    if not delta:  # a complete bundle never asks the store: what it knows changes nothing
        assert _prints(once) == _prints(first)
