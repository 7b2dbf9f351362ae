"""A fresh, empty state store per test, on SQLite and on the real PostgreSQL (tests/servers/postgres.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
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


@pytest.fixture
def french_engine(postgres_url: str) -> Iterator[Engine]:
    """A store on a PostgreSQL database created with a French collation (ICU fr-FR), as a DBA in an
    académie may well create it: it orders text by the language's rules, not by code point."""
    name = "fr_" + uuid.uuid4().hex[:16]
    base, _, _ = postgres_url.rpartition("/")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'fr-FR' LOCALE 'C.UTF-8'"
        )
    eng = make_engine(f"{base}/{name}")
    try:
        yield eng
    finally:
        eng.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
