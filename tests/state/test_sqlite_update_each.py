"""Issue 15: on SQLite, ``update_each`` sends its rows through the driver's executemany, every value
bound (each column's own bind processor: JSON, sealing, aware datetimes), the fixed values and each
row's ``onupdate`` stamp too. What it stores must be what SQLAlchemy's executemany of the same
statement stores: the JSON text byte for byte, sealed payloads that read back the same, the fixed
values, an id given twice (the last wins), and the stamp of the rows that name no ``updated_at``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from ent_migrate.state import _sql, make_engine, upgrade
from ent_migrate.state._sql import now, table, update_each, upsert
from ent_migrate.state.crypto import PayloadCipher, attach_cipher
from ent_migrate.state.runs import Runs

_WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
_AWKWARD = {"n": 2**70, "s": "Ève\u2028 \\ \t\n\r\x01", "l": ["a", None, True, 1.5], "d": {"é": {}}}
_N = 40


@pytest.fixture(params=[False, True], ids=["clear", "sealed"])
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(engine)
    if request.param:
        attach_cipher(engine, PayloadCipher(b"a test key, not a real one"))
    yield engine
    engine.dispose()


def _filled_run(engine: Engine) -> tuple[str, list[int]]:
    run_id = Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
    rows = [
        {
            "run_id": run_id,
            "kind": "person",
            "key": f"k{i:03}",
            "state": "extracted",
            "source_fingerprint": f"f{i}",
            "payload": {"i": i},
            "attempts": 0,
            "updated_at": _WHEN,
        }
        for i in range(_N)
    ]
    items = table("items")
    with engine.begin() as conn:
        upsert(conn, items, rows, ["run_id", "kind", "key"], [])
        ids = list(conn.scalars(select(items.c.id).where(items.c.run_id == run_id).order_by(items.c.id)))
    return run_id, ids


def _update(engine: Engine, ids: list[int]) -> None:
    expected = [{"id": i, "target_payload": {**_AWKWARD, "i": i - ids[0]}, "target_fingerprint": "t"} for i in ids]
    expected.append({**expected[4], "target_payload": {"last": True}})  # id given twice: the last wins
    update_each(engine, table("items"), "id", expected, state="mapped", updated_at=_WHEN)
    # No updated_at: the column's onupdate stamps each row, on both paths.
    update_each(engine, table("items"), "id", [{"id": i, "action": "create", "reason": "r\tx"} for i in ids[::2]])


def _stored(engine: Engine, run_id: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, state, target_payload, target_fingerprint, action, reason, updated_at FROM items"
            " WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).all()
    return [(r[0] - rows[0][0], *r[1:]) for r in rows]


def _read(engine: Engine, run_id: str) -> list[Any]:
    items = table("items")
    with engine.connect() as conn:
        return list(conn.scalars(select(items.c.target_payload).where(items.c.run_id == run_id).order_by(items.c.id)))


def _paths(engine: Engine) -> list[bool]:
    """For each statement the engine sends from now on: was it sent straight to the driver (no
    compiled statement behind it, as exec_driver_sql sends)?"""
    seen: list[bool] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, _s, _p, ctx, _m: seen.append(ctx.compiled is None))
    return seen


def test_the_driver_path_stores_what_executemany_stores(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    sealed = request.node.callspec.id == "sealed"
    fast_run, fast_ids = _filled_run(engine)
    slow_run, slow_ids = _filled_run(engine)
    start = now()
    paths = _paths(engine)
    _update(engine, fast_ids)
    assert paths == [True, True]
    with monkeypatch.context() as patch:
        patch.setattr(_sql, "_sqlite_update_each", lambda *_a: False)
        _update(engine, slow_ids)
    assert paths[2:] == [False, False]
    fast, slow = _stored(engine, fast_run), _stored(engine, slow_run)
    assert [r[1] for r in fast] == ["mapped"] * _N
    assert {r[4] for r in fast} == {"create", None}
    read = _read(engine, fast_run)
    assert read == _read(engine, slow_run)
    assert read[4] == {"last": True}
    assert read[0] == {**_AWKWARD, "i": 0}
    assert all(r[2].startswith('{"enc":') for r in fast) == sealed
    stamps = [(dt.datetime.fromisoformat(r[6]).replace(tzinfo=dt.UTC), r[4]) for r in fast]
    assert all(when >= start for when, action in stamps if action == "create")
    assert all(when == _WHEN for when, action in stamps if action is None)
    # the stamps differ (each row's own time) and so do sealed values (a fresh nonce each): not compared
    drop = (2, 6) if sealed else (6,)
    assert [tuple(v for i, v in enumerate(r) if i not in drop) for r in fast] == [
        tuple(v for i, v in enumerate(r) if i not in drop) for r in slow
    ]
