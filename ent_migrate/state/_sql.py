"""State-store plumbing for the API modules of this package: table handles, dialect-aware upserts,
batched scans. Nothing outside ent_migrate.state uses it: stages call the typed API instead.

The stages use SQLAlchemy Core on the ORM's tables: bulk inserts and keyset scans are what keeps
plan and apply fast and their memory flat at a million items.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from ent_migrate.state.models import Base

__all__ = ["BATCH", "now", "scan", "table", "update_each", "upsert"]

BATCH = 1000


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def upsert(
    conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str], update: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update — one statement for a batch of rows."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(tbl)
    elif dialect == "sqlite":
        stmt = sqlite.insert(tbl)
    else:  # pragma: no cover - only the two supported back-ends
        raise NotImplementedError(dialect)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if dialect != "sqlite" or not _sqlite_executemany(conn, stmt, rows):
        conn.execute(stmt, list(rows))


def _sqlite_executemany(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> bool:
    """The same statement and the same bound values as ``conn.execute(stmt, rows)``, sent straight to
    sqlite3's executemany: SQLAlchemy's per-parameter set-up of a many-row execute was the extract's
    top cost in issue 15's profile (1.1M parameters at 100k accounts). Each column's own bind
    processor still converts its values (JSON, sealing, aware datetimes), so the stored bytes are the
    same. False, with nothing sent, when the rows do not all bind the same columns or the statement
    binds anything else (a Python-side default): SQLAlchemy's general path handles those."""
    columns = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        return False
    compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
    names = compiled.positiontup
    if names is None or sorted(names) != sorted(columns):
        return False
    dialect = conn.dialect
    bound = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
    # Column by column, then zipped into rows: one comprehension per column, not a generator per row.
    values = [[r[name] for r in rows] if proc is None else [proc(r[name]) for r in rows] for name, proc in bound]
    params = list(zip(*values, strict=True))
    conn.exec_driver_sql(compiled.string, params)
    return True


def update_each(engine: Engine, tbl: Table, key: str, rows: Sequence[Mapping[str, Any]], **fixed: Any) -> None:
    """One UPDATE per row, sent as one executemany in one transaction: each row names the row to change
    by its *key* column and gives the new value of each other column it holds; *fixed* values apply
    to every row."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    statement = (
        update(tbl)
        .where(tbl.c[key] == bindparam(f"k_{key}"))
        .values(**{c: bindparam(f"b_{c}") for c in columns}, **fixed)
    )
    params = [{f"k_{key}": row[key], **{f"b_{c}": row[c] for c in columns}} for row in rows]
    with engine.begin() as conn:
        conn.execute(statement, params)


def scan(engine: Engine, query: Any, id_column: Any, batch: int = BATCH) -> Iterator[Sequence[Row[Any]]]:
    """Keyset pagination over *query* ordered by *id_column*: each batch is read in its own short
    transaction, so a long scan never holds the database and memory stays one batch."""
    last: Any = None
    while True:
        q = query.order_by(id_column).limit(batch)
        if last is not None:
            q = q.where(id_column > last)
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return
        yield rows
        last = rows[-1]._mapping[id_column.key]
        if len(rows) < batch:
            return
