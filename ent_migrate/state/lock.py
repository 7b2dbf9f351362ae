"""The state store's write lock: one command that writes (plan, apply, run, verify) at a time.

The lock is one the operating system or the database releases when the process dies, so a killed run
never leaves a stale lock: an ``flock`` on ``<state file>.lock`` beside a SQLite store, a session-level
advisory lock on a connection held open for PostgreSQL. A row in ``run_locks`` only says who holds it,
for the message a second process gets ("held by `ent-migrate apply`, pid 1234, run 3f2a…").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, delete, select, text

from ent_migrate.errors import StateLockedError
from ent_migrate.state._sql import now, table, upsert

__all__ = ["LOCK_NAME", "hold_lock"]

LOCK_NAME = "state"
_PG_LOCK_KEY = 0x656E_746D_6C6B  # "entmlk": the advisory-lock key of the write lock


def _holder(engine: Engine) -> str:
    locks = table("run_locks")
    try:
        with engine.connect() as conn:
            row = conn.execute(select(locks).where(locks.c.name == LOCK_NAME)).first()
    except Exception:  # the message must still be given if the row cannot be read
        row = None
    if row is None:
        return "another ent-migrate process"
    run = f", run {row.run_id[:8]}" if row.run_id else ""
    since = row.acquired_at.replace(microsecond=0).isoformat() if row.acquired_at else "?"
    return f"`ent-migrate {row.command}` (pid {row.pid} on {row.host}{run}, since {since})"


def _record(engine: Engine, command: str, run_id: str | None) -> None:
    with engine.begin() as conn:
        upsert(
            conn,
            table("run_locks"),
            [
                {
                    "name": LOCK_NAME,
                    "run_id": run_id,
                    "command": command,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "acquired_at": now(),
                }
            ],
            ["name"],
            ["run_id", "command", "pid", "host", "acquired_at"],
        )


def _forget(engine: Engine) -> None:
    with contextlib.suppress(Exception), engine.begin() as conn:  # best effort: the lock itself is gone
        conn.execute(
            delete(table("run_locks")).where(
                table("run_locks").c.name == LOCK_NAME, table("run_locks").c.pid == os.getpid()
            )
        )


def _refuse(engine: Engine) -> StateLockedError:
    return StateLockedError(
        f"the state store is in use by {_holder(engine)}. Wait for it to finish, or stop it "
        "(a killed process releases the lock at once), then run this command again"
    )


@contextlib.contextmanager
def hold_lock(engine: Engine, command: str, run_id: str | None = None) -> Iterator[None]:
    """Hold the write lock for the duration of the block, or raise StateLockedError naming the holder."""
    backend = engine.dialect.name
    if backend == "postgresql":
        conn: Connection = engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar()
            conn.commit()
            if not got:
                raise _refuse(engine)
            _record(engine, command, run_id)
            try:
                yield
            finally:
                _forget(engine)
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        finally:
            conn.close()
        return
    database = engine.url.database or ""
    if backend != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield  # an in-process store: nobody else can reach it
        return
    path = Path(database + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    handle: IO[Any] = os.fdopen(fd, "r+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(engine) from None
        _record(engine, command, run_id)
        try:
            yield
        finally:
            _forget(engine)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
