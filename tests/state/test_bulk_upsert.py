"""Issue 15: on SQLite, ``upsert`` sends its rows straight to sqlite3's executemany. What it stores must be
byte for byte what SQLAlchemy's own many-row execute of the same statement stores: payload JSON (an
int past 64 bits, non-ASCII, U+2028), sealed payloads, aware datetimes, and the ON CONFLICT update."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite

from ent_migrate.state import make_engine, upgrade
from ent_migrate.state._sql import table, upsert
from ent_migrate.state.crypto import PayloadCipher, attach_cipher
from ent_migrate.state.runs import Runs

_KEYS = ["run_id", "kind", "key"]
_UPDATE = ["state", "source_fingerprint", "payload", "updated_at"]
_WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def _rows(run_id: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "kind": "person",
            "key": f"k{i}",
            "state": "extracted",
            "source_fingerprint": f"f{i}",
            "payload": {**payload, "i": i},
            "attempts": 0,
            "updated_at": _WHEN,
        }
        for i in range(5)
    ]


def _store(path: Path, sealed: bool) -> tuple[Engine, str]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    if sealed:
        attach_cipher(engine, PayloadCipher(b"a test key, not a real one"))
    run_id = Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
    return engine, run_id


def _write(engine: Engine, run_id: str, fast: bool) -> None:
    first = _rows(run_id, {"n": 2**70, "s": "Ève\u2028", "l": ["a", None, True]})
    second = _rows(run_id, {"n": -1})[1:4]
    tbl = table("items")
    with engine.begin() as conn:
        for rows in (first, second):  # the second batch hits ON CONFLICT DO UPDATE
            if fast:
                upsert(conn, tbl, rows, _KEYS, _UPDATE)
            else:  # SQLAlchemy's general path, the reference
                stmt = sqlite.insert(tbl)
                conn.execute(
                    stmt.on_conflict_do_update(index_elements=_KEYS, set_={c: stmt.excluded[c] for c in _UPDATE}), rows
                )


def _stored(path: Path) -> list[tuple[Any, ...]]:
    """Every column as sqlite3 holds it, but the run's id (a fresh uuid per store)."""
    with sqlite3.connect(path) as db:
        return [r[:1] + r[2:] for r in db.execute("SELECT * FROM items ORDER BY id")]


@pytest.mark.parametrize("sealed", [False, True])
def test_fast_upsert_stores_what_sqlalchemy_stores(tmp_path: Path, sealed: bool) -> None:
    (fast, fast_run), (slow, slow_run) = _store(tmp_path / "fast.db", sealed), _store(tmp_path / "slow.db", sealed)
    _write(fast, fast_run, True)
    _write(slow, slow_run, False)
    a, b = _stored(tmp_path / "fast.db"), _stored(tmp_path / "slow.db")
    assert len(a) == 5
    payload = next(i for i, c in enumerate(table("items").columns) if c.name == "payload") - 1  # run_id is out
    if sealed:  # a fresh nonce per value: compare everything else, and what the store reads back
        a, b = [r[:payload] + r[payload + 1 :] for r in a], [r[:payload] + r[payload + 1 :] for r in b]
        with fast.connect() as conn:
            read = [r.payload for r in conn.execute(table("items").select().order_by(table("items").c.id))]
        assert read[0] == {"n": 2**70, "s": "Ève\u2028", "l": ["a", None, True], "i": 0}
        assert read[1]["n"] == -1
    assert a == b
    fast.dispose()
    slow.dispose()


def test_rows_that_bind_other_columns_take_the_general_path(tmp_path: Path) -> None:
    stored = []
    for name, fast in (("fast.db", True), ("slow.db", False)):
        engine, run_id = _store(tmp_path / name, False)
        rows = _rows(run_id, {"x": 1})
        del rows[0]["attempts"]  # left to its Python-side default in one row: SQLAlchemy's rules apply
        rows[2]["attempts"] = 3
        tbl = table("items")
        with engine.begin() as conn:
            if fast:
                upsert(conn, tbl, rows, _KEYS, _UPDATE)
            else:
                conn.execute(sqlite.insert(tbl).on_conflict_do_nothing(index_elements=_KEYS), rows)
        engine.dispose()
        stored.append(_stored(tmp_path / name))
    assert len(stored[0]) == 5
    assert stored[0] == stored[1]
