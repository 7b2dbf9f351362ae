"""Issue 15: on PostgreSQL, ``upsert`` and ``update_each`` COPY their rows into a temp table and merge them
with one statement. What they store must be what the ordinary path (SQLAlchemy's executemany of the
same statement) stores: the JSON text byte for byte (an int past 64 bits, non-ASCII, U+2028, the
characters COPY's text format escapes), sealed payloads that read back the same, aware datetimes,
the ids in the rows' order, the ON CONFLICT update, and a key given twice in one batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select

from ent_migrate.state import _sql, make_engine, upgrade
from ent_migrate.state._sql import table, update_each, upsert
from ent_migrate.state.crypto import PayloadCipher, attach_cipher, cipher_of
from ent_migrate.state.runs import Runs

_KEYS = ["run_id", "kind", "key"]
_UPDATE = ["state", "source_fingerprint", "payload", "updated_at"]
_WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2)))
_AWKWARD = {"n": 2**70, "s": "Ève\u2028 \\ \t\n\r\\N \x01", "l": ["a", None, True, 1.5], "d": {"é": {}}}
_N = 80  # over the COPY path's threshold


@pytest.fixture
def pg(postgres_database: str) -> Iterator[Engine]:
    engine = make_engine(postgres_database)
    upgrade(engine)
    yield engine
    engine.dispose()


def _run(engine: Engine) -> str:
    return Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")


def _rows(run_id: str, payload: dict[str, Any] | None, n: int = _N) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "kind": "person",
            "key": f"k{i:03}",
            "state": "extracted",
            "source_fingerprint": f"f{i}",
            "payload": None if payload is None or i % 7 == 3 else {**payload, "i": i},
            "attempts": 0,
            "updated_at": _WHEN,
        }
        for i in range(n)
    ]


class _Executemanys:
    """Counts the executemany calls an engine makes: the COPY path makes none."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, _sql: str, _params: Any, _context: Any, executemany: bool) -> None:
        self.count += executemany


def _ordinary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ordinary path, for reference: no batch reaches the COPY threshold."""
    monkeypatch.setattr(_sql, "_COPY_MIN", 10**9)


def _stored(engine: Engine, run_id: str) -> list[tuple[Any, ...]]:
    """Every column of the run's items as PostgreSQL holds it (JSON as its stored text), ids made
    relative to the run's first, without the run's id (a fresh uuid per run)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, kind, key, state, source_fingerprint, payload::text, target_payload::text, "
            "target_fingerprint, action, reason, attempts, error, mark, mark_reason, updated_at, not_expected "
            "FROM items WHERE run_id = %(run)s ORDER BY id",
            {"run": run_id},
        ).all()
    first = rows[0][0] if rows else 0
    return [(r[0] - first, *r[1:]) for r in rows]


def _payloads(engine: Engine, run_id: str) -> list[Any]:
    items = table("items")
    with engine.connect() as conn:
        return list(conn.scalars(select(items.c.payload).where(items.c.run_id == run_id).order_by(items.c.id)))


def _write(engine: Engine, run_id: str) -> None:
    first = _rows(run_id, _AWKWARD)
    # The second batch hits ON CONFLICT DO UPDATE, names k005 twice (the last wins) and adds new keys.
    second = _rows(run_id, {"n": -1}, _N + 10)[5:]
    second.insert(10, {**second[0], "state": "twice", "payload": {"again": True}})
    with engine.begin() as conn:  # both batches in one transaction: the temp table is reused
        upsert(conn, table("items"), first, _KEYS, _UPDATE)
        upsert(conn, table("items"), second, _KEYS, _UPDATE)


@pytest.mark.parametrize("sealed", [False, True])
def test_copy_upsert_stores_what_executemany_stores(pg: Engine, monkeypatch: pytest.MonkeyPatch, sealed: bool) -> None:
    if sealed:
        attach_cipher(pg, PayloadCipher(b"a test key, not a real one"))
    fast_run, slow_run = _run(pg), _run(pg)
    calls = _Executemanys(pg)
    _write(pg, fast_run)
    assert calls.count == 0
    with monkeypatch.context() as patch:
        _ordinary(patch)
        _write(pg, slow_run)
    assert calls.count == 2
    fast, slow = _stored(pg, fast_run), _stored(pg, slow_run)
    assert len(fast) == _N + 10
    assert fast[0][14] == _WHEN
    if sealed:  # a fresh nonce per value: the sealed shape, then what the store reads back
        assert all(r[5] is None or r[5].startswith('{"enc": "v1:') or r[5].startswith('{"enc":"v1:') for r in fast)
        assert _payloads(pg, fast_run) == _payloads(pg, slow_run)
        fast, slow = [r[:5] + r[6:] for r in fast], [r[:5] + r[6:] for r in slow]
    assert fast == slow
    read = _payloads(pg, fast_run)
    assert read[0] == {**_AWKWARD, "i": 0}
    assert read[3] is None  # SQL NULL, not JSON null
    assert read[5] == {"again": True}  # k005's last row
    assert read[-1] == {"n": -1, "i": _N + 9}


def test_copy_upsert_do_nothing_keeps_the_first_row(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = []
    for ordinary in (False, True):
        run_id = _run(pg)
        rows = _rows(run_id, {"x": 1})
        rows.append({**rows[2], "state": "second"})
        with monkeypatch.context() as patch, pg.begin() as conn:
            if ordinary:
                _ordinary(patch)
            upsert(conn, table("items"), rows[:10], _KEYS, [])
            upsert(conn, table("items"), rows, _KEYS, [])
        stored.append(_stored(pg, run_id))
    assert len(stored[0]) == _N
    assert stored[0][2][3] == "extracted"
    assert stored[0] == stored[1]


def test_copy_update_each_stores_what_executemany_stores(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    attach_cipher(pg, PayloadCipher(b"a test key, not a real one"))
    runs = []
    for ordinary in (False, True):
        run_id = _run(pg)
        with pg.begin() as conn:
            upsert(conn, table("items"), _rows(run_id, {"x": 1}), _KEYS, _UPDATE)
        with pg.connect() as conn:
            ids = [r.id for r in conn.execute(select(table("items").c.id).where(table("items").c.run_id == run_id))]
        expected = [{"id": i, "target_payload": {**_AWKWARD, "i": i - ids[0]}, "target_fingerprint": "t"} for i in ids]
        expected.append({**expected[4], "target_payload": {"last": True}})  # id given twice: the last wins
        decided = [{"id": i, "action": "create", "reason": "r\tx"} for i in ids[::2]]
        calls = _Executemanys(pg)
        with monkeypatch.context() as patch:
            if ordinary:
                _ordinary(patch)
            update_each(pg, table("items"), "id", expected, state="mapped", updated_at=_WHEN)
            # No updated_at: the column's onupdate stamps each row, on both paths.
            update_each(pg, table("items"), "id", decided)
        assert calls.count == (2 if ordinary else 0)
        runs.append(run_id)
    fast, slow = (_stored(pg, r) for r in runs)
    assert [r[6] is not None for r in fast] == [True] * _N
    assert {r[8] for r in fast} == {"create", None}
    stamped = [r[14] for r in fast if r[8] == "create"]
    assert all(t > _WHEN for t in stamped)
    drop = (5, 6, 14)  # sealed columns (a fresh nonce each) and the onupdate stamp
    assert [tuple(v for i, v in enumerate(r) if i not in drop) for r in fast] == [
        tuple(v for i, v in enumerate(r) if i not in drop) for r in slow
    ]
    items = table("items")
    with pg.connect() as conn:
        read = [
            list(conn.scalars(select(items.c.target_payload).where(items.c.run_id == r).order_by(items.c.id)))
            for r in runs
        ]
    assert read[0] == read[1]
    assert read[0][4] == {"last": True}
    assert cipher_of(pg) is not None


def _copy_then_fail(engine: Engine, run_id: str) -> None:
    with engine.begin() as conn:
        upsert(conn, table("items"), _rows(run_id, {"x": 1}), _KEYS, _UPDATE)
        raise RuntimeError("stop")  # the transaction is rolled back after the COPY and the merge


def test_a_rolled_back_copy_leaves_nothing(pg: Engine) -> None:
    run_id = _run(pg)
    with pytest.raises(RuntimeError, match="stop"):
        _copy_then_fail(pg, run_id)
    assert _stored(pg, run_id) == []
    with pg.begin() as conn:  # the temp table went with the transaction: made again
        upsert(conn, table("items"), _rows(run_id, {"x": 1}), _KEYS, _UPDATE)
    assert len(_stored(pg, run_id)) == _N


_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_batch = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 60), _json), min_size=1, max_size=90)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_batch, min_size=1, max_size=3))
def test_any_batches_store_the_same_on_both_paths(
    pg: Engine, monkeypatch: pytest.MonkeyPatch, batches: Sequence[Sequence[tuple[str, int, Any]]]
) -> None:
    stored = []
    for ordinary in (False, True):
        run_id = _run(pg)
        with monkeypatch.context() as patch:
            if ordinary:
                _ordinary(patch)
            for batch in batches:
                rows = [
                    {
                        "run_id": run_id,
                        "kind": kind,
                        "key": str(key),
                        "state": "extracted",
                        "payload": {"v": value},
                        "attempts": 0,
                        "updated_at": _WHEN,
                    }
                    for kind, key, value in batch
                ]
                with pg.begin() as conn:
                    upsert(conn, table("items"), rows, _KEYS, ["payload"])
        stored.append(_stored(pg, run_id))
    assert stored[0] == stored[1]


def test_the_store_s_sessions_price_index_probes_for_a_hot_store(pg: Engine) -> None:
    """make_engine sets random_page_cost on each PostgreSQL session it opens, not on the server: the
    batch lookups then use their indexes instead of scanning whole tables."""
    for _ in range(2):  # a fresh connection each time
        pg.dispose()
        with pg.connect() as conn:
            assert conn.exec_driver_sql("SHOW random_page_cost").scalar() == "1.1"
    other = pg.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(other) as conn:  # another client of the same server keeps its default
        row = conn.execute("SHOW random_page_cost").fetchone()
        assert row == ("4",)
