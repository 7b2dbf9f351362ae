"""The blocking keys a reconcile keeps while it runs: appended, looked up in a private index, then
moved into ``identity_blocks`` in block order when it ends.

Why: the keys are digests, so a reconcile batch's few thousand keys landed all over the block index,
and every commit wrote one page of it per key (the checkpoint then wrote it again). A million-account
reconcile wrote 28 GB and read 48 GB for a store of about 3 GB, half the dry-run (issue 15).

How, with nothing lost at any stop:

- each batch appends its keys to ``identity_blocks_pending`` (no index: pages filled in order) in the
  batch's own transaction, with the identities and aliases they belong to;
- the reconcile under way finds them in a private SQLite index: a temporary file SQLite deletes on
  close (and unlinks at once: a kill leaves nothing), with no journal and no fsync, since nothing in
  it is needed after the process: it only repeats what the pending table holds. It keys each digest
  by its 64-bit ``hash()``, not its text: rows of 12 bytes, not 34, so fewer pages to walk and write
  (a fifth less time in this index, inserting and looking up, at 300k to 1M accounts). The hash is
  this process's own (salted per process), which is all a private index needs; two digests of one
  hash only bring an extra identity's facts back as a candidate, which the correlator, indexing the
  real keys, never scores;
- when the reconcile ends the pending keys go into ``identity_blocks`` in one sorted insert (each
  page of the index written once), and the pending rows are deleted in the same transaction;
- a reconcile stopped before that leaves its keys pending: the next reconcile moves them first, so
  it finds them in ``identity_blocks`` like any earlier run's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from ent_migrate.state._sql import CACHE_KIB, placeholder, table

__all__ = ["RunBlocks", "move_pending"]

_COPY = "COPY identity_blocks_pending (identity_id, block) FROM STDIN"
_CHUNK = 500  # keys per lookup: under SQLite's oldest limit of 999 bound parameters
#: Page caches (negative: KiB, as ``PRAGMA cache_size`` takes it) of the move's sort and of the private
#: index: the rest of their pages stay in the OS's file cache, out of the plan's peak memory.
_MOVE_CACHE_KIB = -4096
_DELETE_IDS = 100_000  # pending rows deleted per statement
_INDEX_PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4096")

#: One statement, on both back-ends: the sort is the database's (external, bounded memory), and a key
#: an identity has already (a grown identity's, a re-run's) is skipped. ``WHERE true`` keeps SQLite
#: from reading ON CONFLICT as a join's ON.
_MOVE = (
    "INSERT INTO identity_blocks (identity_id, block)"
    " SELECT identity_id, block FROM identity_blocks_pending WHERE true ORDER BY block, identity_id"
    " ON CONFLICT (block, identity_id) DO NOTHING"
)


def move_pending(engine: Engine) -> int:
    """Move every pending blocking key into ``identity_blocks``, in one transaction; how many rows
    were pending (a key kept twice is indexed once)."""
    pending = table("identity_blocks_pending")
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(pending.c.id), func.max(pending.c.id))).one()
        conn.commit()
        if first is None:
            return 0
        if sqlite:
            # Set outside the transaction (SQLite ignores foreign_keys inside one), which the driver
            # opens at the INSERT. The sort keeps runs of the page cache's size in memory: a small
            # cache, the rest in temp files. No foreign-key check: each pending row was checked when
            # it was kept, and no identity is ever deleted; checked again, the inserts read the
            # identities in block order, all over the table (a million-account move: 16 s, not 4).
            conn.exec_driver_sql(f"PRAGMA cache_size={_MOVE_CACHE_KIB}")
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        moved = 0
        try:
            with conn.begin():
                conn.execute(text(_MOVE))
                # By id ranges: one DELETE of every row first lists them all in memory (SQLite: 75 MB
                # at a million accounts), over the plan's peak.
                for low in range(int(first), int(last) + 1, _DELETE_IDS):
                    done = conn.execute(pending.delete().where(pending.c.id >= low, pending.c.id < low + _DELETE_IDS))
                    moved += int(done.rowcount or 0)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.exec_driver_sql(f"PRAGMA cache_size={CACHE_KIB}")
                conn.commit()
    return moved


@contextlib.contextmanager
def _index_errors() -> Iterator[None]:
    """The private index's faults as what they are for the user: its own sqlite3 connection is no
    SQLAlchemy engine's, so the state store's error messages never saw them, and a full temporary
    folder gave a traceback. Nothing is lost: the batch that failed is not committed, a re-run resumes."""
    try:
        yield
    except sqlite3.Error as exc:
        folder = os.environ.get("SQLITE_TMPDIR") or tempfile.gettempdir()  # where SQLite looks first
        if "full" in str(exc):
            raise OSError(errno.ENOSPC, "no space left for reconcile's temporary index", folder) from exc
        raise OSError(errno.EIO, f"reconcile's temporary index failed ({exc})", folder) from exc


class RunBlocks:
    """This reconcile's blocking keys: kept with each batch, found again by :meth:`identities`."""

    def __init__(self) -> None:
        # "": a private temporary database on disk (SQLite's temp folder: SQLITE_TMPDIR, TMPDIR or /tmp),
        # deleted on close.
        self._index = sqlite3.connect("", isolation_level=None)
        with _index_errors():
            for pragma in _INDEX_PRAGMAS:
                self._index.execute(f"PRAGMA {pragma}")
            self._index.execute(
                "CREATE TABLE blocks (block INTEGER NOT NULL, identity_id INTEGER NOT NULL,"
                " PRIMARY KEY (block, identity_id)) WITHOUT ROWID"
            )

    def keep(self, conn: Connection, rows: Sequence[tuple[int, str]]) -> None:
        """Append (identity id, block digest) rows in *conn*'s transaction, and index them here."""
        if not rows:
            return
        raw: Any = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql" and raw is not None:
            # No key to conflict on: COPY straight into the table, in the batch's transaction.
            with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            mark = placeholder(conn.engine)
            # The driver's own executemany: SQLAlchemy's per-row set-up costs more than the insert.
            conn.exec_driver_sql(
                f"INSERT INTO identity_blocks_pending (identity_id, block) VALUES ({mark}, {mark})",  # noqa: S608
                list(rows),
            )
        # Indexed before the batch commits: if it does not, a key here names an identity that is not
        # there, and the facts looked up for it are simply not found.
        with _index_errors():
            self._index.execute("BEGIN")
            self._index.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?)", [(hash(b), i) for i, b in rows])
            self._index.execute("COMMIT")

    def identities(self, digests: Iterable[str]) -> set[int]:
        """The ids of the identities this reconcile kept under one of these block digests."""
        wanted = sorted({hash(d) for d in digests})
        found: set[int] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            # Only placeholders are joined in; every value is bound.
            sql = f"SELECT identity_id FROM blocks WHERE block IN ({marks})"  # noqa: S608
            with _index_errors():
                found.update(i for (i,) in self._index.execute(sql, chunk))
        return found

    def close(self) -> None:
        self._index.close()
