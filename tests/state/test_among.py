"""Issue 15: ``among(bind, column, values)`` binds an IN list as one parameter (a JSON array read by
``json_each`` on SQLite, ``= ANY`` of an array on PostgreSQL). It must select exactly what
SQLAlchemy's own ``column.in_(values)`` selects, for any text or integer values: empty lists,
duplicates, non-ASCII, quotes and brackets, a lone surrogate (orjson refuses it: the plain IN then,
which the driver refuses as before),
more values than SQLite's bound-parameter limit; and its statement text must not depend on how many
values there are (what makes it cheaper: compiled once, cached)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, select

from ent_migrate.state import make_engine
from ent_migrate.state._sql import JSON_EACH, among

_META = MetaData()
_T = Table("among_t", _META, Column("id", Integer, primary_key=True), Column("key", String(64), index=True))
_KEYS = ["a", "b", "Ève", 'qu"ote', "[1]", "", "x" * 64, "ß", "日本", "0", "00"]

_EXECUTED = {"render_postcompile": True}
_texts = st.lists(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), max_size=30)


def _filled(engine: Engine) -> Engine:
    _META.drop_all(engine)
    _META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_T), [{"id": i, "key": k} for i, k in enumerate(_KEYS, start=1)])
    return engine


@pytest.fixture(scope="module")
def sqlite_engine() -> Iterator[Engine]:
    engine = _filled(create_engine("sqlite://"))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_database: str) -> Iterator[Engine]:
    engine = _filled(make_engine(postgres_database))
    yield engine
    engine.dispose()


def _same_as_in(engine: Engine, keys: list[str], ids: list[int]) -> None:
    with engine.connect() as conn:
        ours = set(conn.execute(select(_T.c.id).where(among(conn, _T.c.key, keys))).scalars())
        plain = set(conn.execute(select(_T.c.id).where(_T.c.key.in_(keys))).scalars())
        assert ours == plain
        by_id = set(conn.execute(select(_T.c.key).where(among(engine, _T.c.id, ids))).scalars())
        assert by_id == set(conn.execute(select(_T.c.key).where(_T.c.id.in_(ids))).scalars())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=_texts, ids=st.lists(st.integers(min_value=-3, max_value=20), max_size=10))
def test_sqlite_selects_what_in_selects(sqlite_engine: Engine, keys: list[str], ids: list[int]) -> None:
    _same_as_in(sqlite_engine, [k for k in keys if "\x00" not in k], ids)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=_texts, ids=st.lists(st.integers(min_value=-3, max_value=20), max_size=10))
def test_postgresql_selects_what_in_selects(pg_engine: Engine, keys: list[str], ids: list[int]) -> None:
    # PostgreSQL text holds no NUL, nor a lone surrogate: psycopg refuses them either way.
    _same_as_in(pg_engine, [k for k in keys if "\x00" not in k and not any(0xD800 <= ord(c) < 0xE000 for c in k)], ids)


def test_a_lone_surrogate_fails_as_in_does(sqlite_engine: Engine) -> None:
    """orjson refuses it, so the plain IN is used, and the driver refuses it there as it always did:
    the same error as before, not another one."""
    with sqlite_engine.connect() as conn:
        clause = among(conn, _T.c.key, ["\ud800", "Ève"])
        assert "json_each" not in str(clause.compile(conn))
        with pytest.raises(UnicodeEncodeError):
            conn.execute(select(_T.c.key).where(_T.c.key.in_(["\ud800"])))
        with pytest.raises(UnicodeEncodeError):
            conn.execute(select(_T.c.key).where(clause))


def test_more_values_than_sqlite_binds(sqlite_engine: Engine) -> None:
    many = [f"k{i}" for i in range(40_000)] + ["ß"]  # over SQLite's 32,766 host parameters
    with sqlite_engine.connect() as conn:
        assert list(conn.execute(select(_T.c.key).where(among(conn, _T.c.key, many))).scalars()) == ["ß"]


@pytest.mark.parametrize("engine_name", ["sqlite_engine", "pg_engine"])
def test_one_statement_whatever_the_count(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    texts = {
        # rendered as executed: SQLAlchemy's IN would expand into one placeholder per value here
        str(select(_T.c.id).where(among(engine, _T.c.key, keys)).compile(engine, compile_kwargs=_EXECUTED))
        for keys in ([], ["a"], _KEYS, [f"k{i}" for i in range(1000)])
    }
    assert len(texts) == 1


def test_the_store_probes_for_json_each(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        with engine.connect():
            pass
        assert getattr(engine.dialect, JSON_EACH) is True  # this SQLite has JSON1
    finally:
        engine.dispose()


def test_an_sqlite_without_json_each_takes_the_plain_in(tmp_path: Path) -> None:
    engine = _filled(make_engine(f"sqlite:///{tmp_path}/state.db"))
    try:
        with engine.connect() as conn:
            setattr(engine.dialect, JSON_EACH, False)  # as the probe leaves it on a build without JSON1
            clause = among(conn, _T.c.key, ["Ève", "zz"])
            assert "json_each" not in str(clause.compile(conn))
            assert list(conn.execute(select(_T.c.key).where(clause)).scalars()) == ["Ève"]
    finally:
        engine.dispose()
