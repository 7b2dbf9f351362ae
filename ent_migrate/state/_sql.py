"""State-store plumbing for the API modules of this package: table handles, dialect-aware upserts,
batched scans. Nothing outside ent_migrate.state uses it: stages call the typed API instead.

The stages use SQLAlchemy Core on the ORM's tables: bulk inserts and keyset scans are what keeps
plan and apply fast and their memory flat at a million items.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Row,
    String,
    Table,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from ent_migrate.state.models import Base

__all__ = [
    "BATCH",
    "CACHE_KIB",
    "JSON_EACH",
    "among",
    "insert_rows",
    "now",
    "placeholder",
    "scan",
    "scan_items",
    "table",
    "update_each",
    "upsert",
]

BATCH = 1000
#: The state store's SQLite page cache per connection, as ``PRAGMA cache_size`` takes it (negative: KiB).
CACHE_KIB = -16384
# Under this many rows a PostgreSQL executemany (one pipelined round trip) beats the COPY path's three
# statements: a lock, a checkpoint or a review entry stays on the ordinary path.
_COPY_MIN = 32
_ORDINAL = "_em_n"  # the temp table's row-order column: no table of ours has a column by that name
#: set False on an SQLite dialect whose library lacks json_each (built without JSON1, before 3.38)
JSON_EACH = "_ent_migrate_json_each"


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def among(bind: Engine | Connection, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``, the values bound as one parameter: a JSON array read by ``json_each`` on
    SQLite, an array compared with ``= ANY`` on PostgreSQL. SQLAlchemy's IN binds one parameter per
    value, each coerced when the statement is built and rendered into it on every execute: a tenth
    of a 100k-account plan's profile went there (issue 15), for the batches of a thousand keys the
    state store looks up. One parameter keeps the statement's text the same whatever the count, so
    it is compiled once. The values are text or integers (keys, ids, digests)."""
    listed = list(values)
    if bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))
    if not getattr(bind.dialect, JSON_EACH, True):  # an SQLite built without JSON1: the usual IN
        return column.in_(listed)
    try:
        array = orjson.dumps(listed).decode("utf-8")
    except TypeError:  # what orjson refuses (a lone surrogate, an int past 64 bits): the usual IN
        return column.in_(listed)
    each = func.json_each(bindparam(None, array, type_=String())).table_valued("value")
    return column.in_(select(each.c.value))


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
    stmt = _on_conflict(stmt, keys, update)
    if dialect == "sqlite" and _sqlite_executemany(conn, stmt, rows):
        return
    if dialect == "postgresql" and _pg_copy_upsert(conn, tbl, rows, keys, update):
        return
    conn.execute(stmt, list(rows))


def insert_rows(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """A plain INSERT of many rows: a duplicate key raises, as ``conn.execute(tbl.insert(), rows)``
    does. On SQLite through the driver's executemany (the general path's per-parameter set-up was a
    tenth of map at 100k accounts: a login per person)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite" and _sqlite_executemany(conn, tbl.insert(), rows):
        return
    conn.execute(tbl.insert(), list(rows))


def _on_conflict(stmt: Any, keys: Sequence[str], update: Sequence[str]) -> Any:
    """``ON CONFLICT (keys) DO UPDATE SET update``, or ``DO NOTHING`` when there is nothing to update."""
    if update:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def _bound_columns(
    dialect: Any, types: Sequence[tuple[str, Any]], rows: Sequence[Mapping[str, Any]]
) -> list[list[Any]]:
    """Each (name, type)'s values over *rows*, converted by that type's own bind processor (JSON,
    sealing, aware datetimes): what SQLAlchemy would send. Column by column, one comprehension each,
    not a generator per row; zip the lists for rows."""
    out = []
    for name, type_ in types:
        proc = type_.dialect_impl(dialect).bind_processor(dialect)
        values = [r[name] for r in rows]
        if proc is not None:
            first = values[0]
            # One time stamp for every row (update_each's fixed updated_at) is converted once: a
            # datetime's conversion a row was a twentieth of map at 1M accounts. Only a datetime: a
            # sealed value must get its own nonce in each row.
            once = isinstance(first, dt.datetime) and all(v is first for v in values)
            values = [proc(first)] * len(values) if once else [proc(v) for v in values]
        out.append(values)
    return out


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
    values = _bound_columns(conn.dialect, [(name, compiled.binds[name].type) for name in names], rows)
    params = list(zip(*values, strict=True))
    conn.exec_driver_sql(compiled.string, params)
    return True


# --------------------------------------------------------------------------- PostgreSQL bulk paths
#
# psycopg's executemany pipelines the rows but the server still runs one INSERT or UPDATE per row, and
# SQLAlchemy and psycopg set up each row's parameters in Python (issue 15's PostgreSQL profile: upsert
# and update_each were a third of plan). Instead the rows are COPYed into a temp table and merged by
# one statement. The values COPY sends are what each column's bind processor gives (JSON encoding,
# sealing with the state key, UTC datetimes) dumped by psycopg's own adapters, as the ordinary path
# sends them: the stored values are the same (tests/state/test_pg_bulk.py).


def _pg_copyable(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> bool:
    """Can these rows take the COPY path with the ordinary path's outcome? Enough of them, all binding
    the same columns, no NULL key (NULLs never conflict: de-duplicating them would merge rows the
    database keeps apart), and a transaction to hold the temp table's rows."""
    if len(rows) < _COPY_MIN or conn.connection.dbapi_connection is None:
        return False
    first = rows[0].keys()
    if any(row.keys() != first for row in rows):
        return False
    if any(row[k] is None for row in rows for k in keys):
        return False
    return not getattr(conn.connection.dbapi_connection, "autocommit", False)


@functools.cache
def _temp_table(tbl: Table, columns: tuple[str, ...]) -> Table:
    """The temp table for COPYing these columns of *tbl* (one per column set and connection), and each
    row's position. ON COMMIT DELETE ROWS: its rows go at the end of the transaction (a truncation, no
    dead rows left behind); within one transaction the caller deletes them after the merge. One Table
    object per column set, so SQLAlchemy's statement cache keeps the merges compiled."""
    digest = hashlib.sha256(f"{tbl.name}({','.join(columns)})".encode()).hexdigest()[:12]
    return Table(
        f"_em_bulk_{tbl.name}_{digest}",
        MetaData(),
        *(Column(c, tbl.c[c].type) for c in columns),
        Column(_ORDINAL, postgresql.BIGINT),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DELETE ROWS",
    )


def _pg_copy_in(conn: Connection, tbl: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Table:
    """COPY *rows* (their *columns*) into this connection's temp table for that column set, created on
    first use; returns the temp table to build the merge on."""
    temp = _temp_table(tbl, tuple(columns))
    conn.execute(CreateTable(temp, if_not_exists=True))
    dialect = conn.dialect
    values = _bound_columns(dialect, [(c, tbl.c[c].type) for c in columns], rows)
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in [*columns, _ORDINAL])
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {quote(temp.name)} ({names}) FROM STDIN") as copy:
        for row in zip(*values, range(len(rows)), strict=True):
            copy.write_row(row)
    return temp


def _pg_copy_upsert(
    conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str], update: Sequence[str]
) -> bool:
    """upsert on PostgreSQL by COPY and one INSERT ... SELECT ... ON CONFLICT; False, with nothing sent,
    when the rows are not for it (then the ordinary executemany runs)."""
    if not _pg_copyable(conn, tbl, rows, keys):
        return False
    columns = list(rows[0])
    # A column the rows leave out whose Python-side default SQLAlchemy would fill per row, or an
    # ON CONFLICT update SQLAlchemy would extend with a column's onupdate: its rules, its path.
    if any(c.default is not None for c in tbl.c if c.key not in columns):
        return False
    if update and any(c.onupdate is not None for c in tbl.c if c.key not in update):
        return False
    # executemany runs the rows in turn, so a key given twice keeps its first row's inserted values
    # and its last row's updated ones (or only the first row, DO NOTHING); one INSERT ... ON CONFLICT
    # DO UPDATE may not touch a row twice, so the rows are merged that way first.
    at = [tuple(row[k] for k in keys) for row in rows]
    unique: Sequence[Mapping[str, Any]] = rows
    if len(set(at)) < len(rows):  # copies of the rows only when some key is given twice
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for where, row in zip(at, rows, strict=True):
            if where not in merged:
                merged[where] = dict(row)
            elif update:
                merged[where].update((c, row[c]) for c in update)
        unique = list(merged.values())
    temp = _pg_copy_in(conn, tbl, columns, unique)
    stmt = postgresql.insert(tbl).from_select(
        columns, select(*(temp.c[c] for c in columns)).order_by(temp.c[_ORDINAL]), include_defaults=False
    )
    conn.execute(_on_conflict(stmt, keys, update))
    conn.execute(temp.delete())
    return True


def _stamped(tbl: Table, given: Sequence[str]) -> list[Column[Any]] | None:
    """The columns an UPDATE setting *given* leaves to their ``onupdate``, which executemany evaluates
    once per row (so do the bulk paths, with :func:`_stamp`); None when one is not a plain value or
    function (a SQL expression): only SQLAlchemy's own path runs those."""
    stamped = [c for c in tbl.c if c.onupdate is not None and c.key not in given]
    if any(not (c.onupdate.is_scalar or c.onupdate.is_callable) for c in stamped):  # type: ignore[union-attr]
        return None
    return stamped


def _stamp(column: Column[Any]) -> Any:
    """A fresh value of the column's ``onupdate`` (see :func:`_stamped`)."""
    default: Any = column.onupdate
    return default.arg if default.is_scalar else default.arg(None)


def _pg_copy_update(
    conn: Connection, tbl: Table, key: str, rows: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any]
) -> bool:
    """update_each on PostgreSQL by COPY and one UPDATE ... FROM; False, with nothing sent, when the
    rows are not for it."""
    if not _pg_copyable(conn, tbl, rows, [key]):
        return False
    columns = [c for c in rows[0] if c != key]
    stamped = _stamped(tbl, [*columns, *fixed])  # stamped per row into the temp table
    if stamped is None:
        return False
    # The last row given for a key wins, as when the rows are run in turn.
    last = {row[key]: row for row in rows}
    filled = [{**row, **{c.key: _stamp(c) for c in stamped}} for row in last.values()]
    temp = _pg_copy_in(conn, tbl, [key, *columns, *(c.key for c in stamped)], filled)
    conn.execute(
        update(tbl)
        .where(tbl.c[key] == temp.c[key])
        .values(**{c: temp.c[c] for c in columns}, **{c.key: temp.c[c.key] for c in stamped}, **fixed)
    )
    conn.execute(temp.delete())
    return True


def _sqlite_update_each(
    conn: Connection, tbl: Table, key: str, rows: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any]
) -> bool:
    """update_each on SQLite through the driver's executemany (:func:`_sqlite_executemany`): SQLAlchemy's
    per-row parameter set-up was most of the cost of recording apply's outcomes and map's expected
    records (issue 15). Every value is bound, the fixed ones and each row's ``onupdate`` stamp too
    (evaluated once per row, as executemany does), so the statement binds nothing else. False, with
    nothing sent, when the rows do not all name the same columns or a stamp is not a plain value or
    function: the general path handles those."""
    columns = [c for c in rows[0] if c != key]
    if any(row.keys() != rows[0].keys() for row in rows):
        return False
    stamped = _stamped(tbl, [*columns, *fixed])
    if stamped is None:
        return False
    names = [*columns, *fixed, *(c.key for c in stamped)]
    statement = update(tbl).where(tbl.c[key] == bindparam(f"k_{key}")).values(**{c: bindparam(f"b_{c}") for c in names})
    bound = [
        {
            f"k_{key}": row[key],
            **{f"b_{c}": row[c] for c in columns},
            **{f"b_{c}": v for c, v in fixed.items()},
            **{f"b_{c.key}": _stamp(c) for c in stamped},
        }
        for row in rows
    ]
    return _sqlite_executemany(conn, statement, bound)


def update_each(engine: Engine, tbl: Table, key: str, rows: Sequence[Mapping[str, Any]], **fixed: Any) -> None:
    """One UPDATE per row, sent as one executemany in one transaction: each row names the row to change
    by its *key* column and gives the new value of each other column it holds; *fixed* values apply
    to every row."""
    if not rows:
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql" and _pg_copy_update(conn, tbl, key, rows, fixed):
            return
        if conn.dialect.name == "sqlite" and _sqlite_update_each(conn, tbl, key, rows, fixed):
            return
        columns = [c for c in rows[0] if c != key]
        statement = (
            update(tbl)
            .where(tbl.c[key] == bindparam(f"k_{key}"))
            .values(**{c: bindparam(f"b_{c}") for c in columns}, **fixed)
        )
        conn.execute(statement, [{f"k_{key}": row[key], **{f"b_{c}": row[c] for c in columns}} for row in rows])


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


def placeholder(engine: Engine) -> str:
    """The driver's positional placeholder, for SQL written by hand: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


def scan_items(engine: Engine, columns: str, where: str, params: Sequence[Any]) -> Iterator[Sequence[Sequence[Any]]]:
    """:func:`scan` over the ``items`` table for a statement written as SQL (``SELECT id, columns FROM
    items WHERE where``, *params* bound to its placeholders), read as the driver's rows: for the
    scans every stage makes of a district, where SQLAlchemy's compiled select and row objects cost
    more than the query (issue 15). Values come as the driver gives them: a JSON column's text is
    the caller's to decode (:func:`column_decoder`)."""
    mark = placeholder(engine)
    # Only the caller's column list and condition (constants, placeholders) are joined in.
    sql = f"SELECT id, {columns} FROM items WHERE ({where}) AND id > {mark} ORDER BY id LIMIT {int(BATCH)}"  # noqa: S608
    last = 0  # ids count from 1
    while True:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(sql, (*params, last)).all()
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])
        if len(rows) < BATCH:
            return


def column_decoder(engine: Engine, column: Column[Any]) -> Callable[[Any], Any]:
    """What SQLAlchemy does to *column*'s values as it reads them (a JSON column: decode, and open
    what the state key sealed), for values read by hand; None stays None."""
    dialect = engine.dialect
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    if process is None:
        return lambda value: value
    return lambda value: None if value is None else process(value)
