"""The promotion's state store on SQLite and on a real PostgreSQL (tests/servers/postgres.py): the same
summer ends in the same states, explanations and journal on both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ent_migrate.config import load_config
from ent_migrate.connectors.memory.connector import MemoryConnector
from ent_migrate.fixtures.promotion import PromotionFixture, write_promotion_fixture
from ent_migrate.pipeline.context import pseudonymizer_from_config
from ent_migrate.promotion import Promoter, PromotionStore, State, load_promotion_config
from ent_migrate.promotion.store import Pupil
from ent_migrate.state import make_engine, upgrade

_DAYS = ("2027-06-01", "2027-07-05", "2027-09-02", "2027-10-02")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PromotionStore]:
    url = (
        f"sqlite:///{tmp_path / 'state.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_database"))
    )
    engine = make_engine(url)
    upgrade(engine)
    yield PromotionStore(engine)
    engine.dispose()


def _run(promo: PromotionFixture, store: PromotionStore, today: str) -> None:
    MemoryConnector.reset()  # every run reads the files again, as a new process does
    config = load_config(promo.config)
    pc = load_promotion_config(config)
    Promoter(config, pc, store, pseudonymizer_from_config(config), dt.date.fromisoformat(today)).run(dry_run=False)


def _snapshot(store: PromotionStore) -> dict[str, tuple[Any, ...]]:
    pupils: dict[str, Pupil] = store.pupils(2026)
    return {
        k.split("|")[1]: (p.state.value, p.college_uai, p.target_id, p.reason, p.score, p.detail.get("match"))
        for k, p in pupils.items()
    }


def test_a_summer_ends_alike_on_both_backends(backend: PromotionStore, tmp_path: Path) -> None:
    promo = write_promotion_fixture(tmp_path / "promo", store_prefix=f"{tmp_path.name}-b")
    reference = write_promotion_fixture(tmp_path / "ref", store_prefix=f"{tmp_path.name}-r")
    ref_engine = make_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    upgrade(ref_engine)
    try:
        ref_store = PromotionStore(ref_engine)
        for day in _DAYS:
            _run(promo, backend, day)
            _run(reference, ref_store, day)
            assert _snapshot(backend) == _snapshot(ref_store), day
            assert backend.counts(2026) == ref_store.counts(2026)
        assert backend.intents_left() == 0
        assert _snapshot(backend)["e01"][0] == "primary_deleted"
    finally:
        ref_engine.dispose()


def test_note_keeps_the_state_and_persists_reason_and_explanation(backend: PromotionStore) -> None:
    pupil = Pupil("2026|e11", 2026, "0750002B", None, None, State.DETECTED, None, None, False, {})
    backend.detect(pupil)
    backend.transition(pupil, State.UNMATCHED, reason="not_found", score=0, detail={"match": {"method": "none"}})
    backend.note(pupil, reason="review", score=65, detail={"match": {"method": "names", "candidates": 2}})
    again = backend.pupils(2026)["2026|e11"]
    assert (again.state, again.reason, again.score) == (State.UNMATCHED, "review", 65)
    assert again.detail == {"match": {"method": "names", "candidates": 2}}
    assert backend.intents_left() == 0
