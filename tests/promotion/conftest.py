"""A generated pair of school years per test, and a helper that runs the promotion as of a date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from ent_migrate.config import load_config
from ent_migrate.connectors.memory.connector import MemoryConnector
from ent_migrate.fixtures.promotion import PromotionFixture, write_promotion_fixture
from ent_migrate.pipeline.context import pseudonymizer_from_config
from ent_migrate.promotion import Promoter, PromotionStore, RunSummary, load_promotion_config
from ent_migrate.promotion.store import Pupil
from ent_migrate.state import make_engine, upgrade


class Runner(Protocol):
    def __call__(self, today: str, dry_run: bool = False) -> RunSummary: ...


@pytest.fixture
def promo(tmp_path: Path) -> PromotionFixture:
    return write_promotion_fixture(tmp_path / "promo", store_prefix=tmp_path.name)


@pytest.fixture
def store(promo: PromotionFixture) -> Iterator[PromotionStore]:
    engine = make_engine(f"sqlite:///{promo.root / 'state.db'}")
    upgrade(engine)
    yield PromotionStore(engine)
    engine.dispose()


@pytest.fixture
def run(promo: PromotionFixture, store: PromotionStore) -> Runner:
    def go(today: str, dry_run: bool = False) -> RunSummary:
        # every run reads the files again, as a new process does (a later delivery, a re-run)
        MemoryConnector.reset()
        config = load_config(promo.config)
        promoter = Promoter(
            config,
            load_promotion_config(config),
            store,
            pseudonymizer_from_config(config),
            dt.date.fromisoformat(today),
        )
        return promoter.run(dry_run=dry_run)

    return go


def states(store: PromotionStore) -> dict[str, tuple[str, str | None, str | None]]:
    pupils: dict[str, Pupil] = store.pupils(2026)
    return {k.split("|")[1]: (p.state.value, p.college_uai, p.reason) for k, p in pupils.items()}
