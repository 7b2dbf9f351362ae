"""The state store's own floor: what the cheapest journaled dry-run of the same records would cost.

The bare loop of plan_bench reads, re-serialises and hashes each record, and stores nothing. A dry-run
that can be resumed after a kill must at least store each record once (extract), store what the target
should hold (map) and store the decision (plan), each batch in its own transaction. This does exactly
that and nothing else, with sqlite3 alone (psycopg alone on PostgreSQL: COPY, one UPDATE per batch), on
the real schema (Alembic's head: the same table and indexes), with the store's own pragmas (WAL,
synchronous=NORMAL): no reconciliation, no logins, no report. ``plan``'s ratio to this figure says how
much of a plan is our Python and how much the store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["store_floor"]

_BATCH = 1000  # the pipeline's batch (ent_migrate.state._sql.BATCH)


def _records(package: str) -> Iterator[tuple[str, str, str]]:
    """(kind, canonical JSON, its SHA-256) of each record of the package, in file order."""
    for path in sorted((Path(package) / "records").glob("*.jsonl")):
        with path.open("rb") as fh:
            for line in fh:
                canonical = json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                yield path.stem, canonical, hashlib.sha256(canonical.encode()).hexdigest()


def store_floor(package: str, server_url: str = "") -> int:
    """The floor on SQLite, or with *server_url* on a fresh database of that PostgreSQL server."""
    if server_url:
        return _postgres_floor(package, server_url)
    from ent_migrate.state import make_engine, upgrade
    from ent_migrate.state.runs import Runs

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/state.db")
        upgrade(engine)
        run = Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
        engine.dispose()
        db = sqlite3.connect(f"{tmp}/state.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        n, batch = 0, list[tuple[object, ...]]()
        insert = (
            "INSERT INTO items (run_id, kind, key, state, source_fingerprint, payload, attempts, updated_at)"
            " VALUES (?, ?, ?, 'extracted', ?, ?, 0, '2026-12-03 00:00:00.000000')"
        )
        for kind, canonical, digest in _records(package):
            batch.append((run, kind, str(n), digest, canonical))
            n += 1
            if len(batch) == _BATCH:
                _commit(db, insert, batch)
        _commit(db, insert, batch)
        # map: the expected record; plan: the decision. One UPDATE per item, a transaction per batch.
        for update in _UPDATES:
            last = 0
            while ids := [r[0] for r in db.execute(_PAGE, (run, last))]:
                _commit(db, update, [(i,) for i in ids])
                last = ids[-1]
        db.close()
    return n


_UPDATES = (
    # Expected as extracted, without a copy (Items.expect_as_extracted).
    "UPDATE items SET target_fingerprint = source_fingerprint, state = 'mapped' WHERE id = ?",
    "UPDATE items SET action = 'create', reason = 'absent from the target', state = 'planned' WHERE id = ?",
)
_PAGE = "SELECT id FROM items WHERE run_id = ? AND id > ? ORDER BY id LIMIT 1000"


def _commit(db: sqlite3.Connection, statement: str, rows: list[tuple[object, ...]]) -> None:
    db.execute("BEGIN")
    db.executemany(statement, rows)
    db.execute("COMMIT")
    rows.clear()


#: PostgreSQL: COPY for the records (the store's own bulk path), one UPDATE per batch of ids.
_PG_COPY = "COPY items (run_id, kind, key, state, source_fingerprint, payload, attempts, updated_at) FROM STDIN"
_PG_UPDATES = (
    "UPDATE items SET target_fingerprint = source_fingerprint, state = 'mapped' WHERE id = ANY(%s)",
    "UPDATE items SET action = 'create', reason = 'absent from the target', state = 'planned' WHERE id = ANY(%s)",
)
_PG_PAGE = "SELECT id FROM items WHERE run_id = %s AND id > %s ORDER BY id LIMIT 1000"


def _postgres_floor(package: str, server_url: str) -> int:
    """The same three passes with psycopg alone, on the real schema, a transaction per batch: on
    PostgreSQL, plan's ratio to the SQLite floor compared two databases."""
    import psycopg
    from sqlalchemy.engine import make_url

    from bench.plan_bench import fresh_database
    from ent_migrate.state import make_engine, upgrade
    from ent_migrate.state.runs import Runs

    with fresh_database(server_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        run = Runs(engine).open(source_name="s", target_name="t", source_spec="s", target_spec="t", config_digest="d")
        engine.dispose()
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        n = 0
        with psycopg.connect(dsn) as db:
            rows = list[tuple[object, ...]]()
            for kind, canonical, digest in _records(package):
                rows.append((run, kind, str(n), "extracted", digest, canonical, 0, "2026-12-03 00:00:00+00"))
                n += 1
                if len(rows) == _BATCH:
                    _copy(db, rows)
            _copy(db, rows)
            for update in _PG_UPDATES:
                last = 0
                while ids := [r[0] for r in db.execute(_PG_PAGE, (run, last))]:
                    db.execute(update, (ids,))
                    db.commit()
                    last = ids[-1]
    return n


def _copy(db: Any, rows: list[tuple[object, ...]]) -> None:
    with db.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
        for row in rows:
            copy.write_row(row)
    db.commit()
    rows.clear()
