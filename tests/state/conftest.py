"""A fresh, empty state store per test, on SQLite and on the real PostgreSQL (tests/servers/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ent_migrate.state import make_engine
from tests.servers.postgres import fresh_database


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


@pytest.fixture
def french_engine(postgres_url: str) -> Iterator[Engine]:
    """A store on a PostgreSQL database created with a French collation (ICU fr-FR), as a DBA in an
    académie may well create it: it orders text by the language's rules, not by code point."""
    french = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'fr-FR' LOCALE 'C.UTF-8'"
    with fresh_database(postgres_url, french) as url:
        eng = make_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()
