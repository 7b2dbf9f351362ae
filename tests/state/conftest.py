"""A fresh, empty state store per test, on SQLite and on the real PostgreSQL (tests/servers/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ent_migrate.state import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'ent-migrate.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    eng = make_engine(state_url)
    yield eng
    eng.dispose()
