"""Where the state store lives, how it is opened, and its schema revision (Alembic, driven from code).

The schema is only ever built by the numbered revisions shipped in ``ent_migrate.migrations``; commands
other than ``ent-migrate db ...`` open the store with :func:`open_store`, which refuses a database that is
not exactly at the head revision and prints the command that fixes it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from ent_migrate.config import Config, check_url_secrets
from ent_migrate.errors import ConfigError, SchemaOutdatedError, UnreachableError
from ent_migrate.state._sql import CACHE_KIB, JSON_EACH
from ent_migrate.state.crypto import json_dumps, json_loads
from ent_migrate.state.models import Base

__all__ = [
    "DEFAULT_STATE_FILE",
    "STATE_ENV",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "mask_url",
    "normalize_url",
    "open_store",
    "require_current",
    "resolve_state_url",
    "schema_diff",
    "upgrade",
]

STATE_ENV = "ENT_MIGRATE_STATE"
DEFAULT_STATE_FILE = "ent-migrate.db"
_BUSY_TIMEOUT_MS = 30_000
_UPGRADE_LOCK = 0x656E_746D_6967  # "entmig": an arbitrary advisory-lock key of our own


# --------------------------------------------------------------------------- where the store lives


def resolve_state_url(cli_value: str | None, config: Config) -> str:
    """``--state`` value, else ``$ENT_MIGRATE_STATE``, else config ``[state] url``, else ``./ent-migrate.db``.

    A bare path is a SQLite file; relative SQLite paths are made absolute (against the config file's folder
    for the config value, against the working directory otherwise) so that the URL printed in messages
    and reports is the one actually used. ``postgresql://`` gets the psycopg 3 driver.
    """
    if cli_value:
        # A password on the command line is visible to every user of the machine (ps): refused.
        check_url_secrets(cli_value, "--state")
        return normalize_url(cli_value, "--state", Path.cwd())
    env = os.environ.get(STATE_ENV)
    if env:
        return normalize_url(env, STATE_ENV, Path.cwd())
    value = config.section("state").get("url")
    if value is not None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{config.where}: [state] url must be a non-empty string")
        base = config.path.parent.resolve() if config.path is not None else Path.cwd()
        return normalize_url(value, f"{config.where}: [state] url", base)
    return normalize_url(DEFAULT_STATE_FILE, "default", Path.cwd())


def normalize_url(value: str, where: str, base: Path) -> str:
    value = value.strip()
    if "://" not in value:
        return "sqlite:///" + str((base / Path(value).expanduser()).resolve())
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(f"{where}: not a database URL (expected sqlite:///FILE or postgresql://...)") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # the one PostgreSQL driver installed with us
    elif backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            url = url.set(database=str((base / Path(database).expanduser()).resolve()))
    else:
        raise ConfigError(f"{where}: unsupported state store {backend!r}; use sqlite:///FILE or postgresql://...")
    return url.render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """The URL with any password and every query parameter's value replaced by ``***`` (safe for
    messages, logs and reports: a query may carry ``password=``, ``sslpassword=`` or a token)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<invalid URL>"
    masked_query = "&".join(f"{k}=***" for k in sorted(parsed.query))
    rendered = parsed.set(query={}).render_as_string(hide_password=True)
    return f"{rendered}?{masked_query}" if masked_query else rendered


# --------------------------------------------------------------------------- engines


def _prepare_sqlite_file(database: str) -> None:
    """Create the SQLite file (0600) and any missing folder (0700) ourselves: the state holds personal
    data, and SQLite would otherwise create them with the umask's permissions. The -wal and -shm files
    SQLite creates later copy the database file's mode."""
    path = Path(database)
    if path.exists():
        return
    missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"{folder}: cannot create the state store folder ({exc.strerror})") from None
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the state store ({exc.strerror})") from None
    os.fchmod(fd, 0o600)
    os.close(fd)


def _set_wal(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL, retried: SQLite answers "database is locked" at once, without calling
    the busy handler, when another connection holds the file while it switches modes."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer. synchronous=NORMAL in WAL mode loses nothing when the
        # *process* is killed (kill -9, crash): committed transactions are in the WAL file, which the OS
        # keeps. Only a power loss or OS crash may drop the last transactions (never corrupt the file);
        # a resumable migration re-does those, so FULL's fsync per commit is not worth its cost.
        # busy_timeout first: switching a new file to WAL takes a lock, and without a timeout a second
        # process opening the store at that moment fails at once with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The blocking-key and item-key indexes take random keys (keyed digests, source ids): each
        # batch dirties pages all over them, and SQLite's default checkpoint (every 1,000 pages, 4 MB)
        # then copied most of the index back into the file, with an fsync, after nearly every commit.
        # 10,000 pages (40 MB of WAL) write a page rewritten by several batches once; a 16 MB page
        # cache (2 MB by default) re-reads fewer of them. A 100k-account plan: 13% faster (issue 15).
        # Peak memory grows by the cache at most, within the 1M-account plan's budget.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute(f"PRAGMA cache_size={CACHE_KIB}")
    finally:
        cursor.close()


def _probe_json_each(dialect: Any, dbapi_connection: Any, _record: Any) -> None:
    """Does this SQLite have json_each (JSON1: built in since 3.38, and in most builds before)? The
    state store's batch lookups bind their keys as one JSON array when it does (``_sql.among``)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT value FROM json_each('[1]')")
        cursor.fetchall()
        found = True
    except sqlite3.OperationalError:
        found = False
    finally:
        cursor.close()
    setattr(dialect, JSON_EACH, found)


def _pg_session(dbapi_connection: Any, _record: Any) -> None:
    # The planner's default random_page_cost (4) prices an index probe as a spinning disk's seek: the
    # batch lookups by blocking key, id or login then scan whole tables (issue 15: the candidates query
    # took twice as long at 100k accounts). A state store is small and hot in memory or on SSD, where
    # 1.1 is PostgreSQL's own advice; set for our sessions only, never for the server.
    # And no JIT: it compiles a query whose estimated cost is high, and the batch lookups (a few hundred
    # keys probed through an index) estimate high but run in a millisecond: the compiling took a
    # tenth of a second each at 1M accounts (issue 15).
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET random_page_cost = 1.1")
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def make_engine(url: str) -> Engine:
    """An engine for the state store: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{mask_url(url)}: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        if not in_memory and not database.startswith("file:"):
            _prepare_sqlite_file(database)
        engine = sa.create_engine(parsed, json_serializer=json_dumps, json_deserializer=json_loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "first_connect", functools.partial(_probe_json_each, engine.dialect))
        return engine
    if backend == "postgresql":
        try:
            engine = sa.create_engine(
                parsed, pool_pre_ping=True, json_serializer=json_dumps, json_deserializer=json_loads
            )
        except NoSuchModuleError:
            raise ConfigError(f"{mask_url(parsed)}: unsupported driver; use postgresql+psycopg://") from None
        event.listen(engine, "connect", _pg_session)
        return engine
    raise ConfigError(f"{mask_url(parsed)}: unsupported state store; use sqlite:///FILE or postgresql://...")


@contextlib.contextmanager
def _connect(engine: Engine) -> Iterator[sa.Connection]:
    """A connection whose connection failures become :class:`UnreachableError` (exit 3), URL masked."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:  # refused, unknown host, bad credentials, or a file that is not SQLite
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "connection failed"
        message = f"state store {mask_url(engine.url)} cannot be opened: {reason}"
        if engine.dialect.name == "sqlite":  # a local file: the user's path is wrong, nothing is "down"
            raise ConfigError(message) from None
        # psycopg's first line names host and port, never the password.
        raise UnreachableError(message) from None
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _engine_for(engine_or_url: Engine | str) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- revisions


def _migrations_dir() -> str:
    # The installed package's folder: works from a wheel and from an editable checkout alike.
    return str(importlib.resources.files("ent_migrate.migrations"))


def _alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", _migrations_dir())
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The single head revision shipped with this version of ent-migrate."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revision 0001
        raise RuntimeError("no migration revision is installed")
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: no schema at all)."""
    with _connect(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _ddl_transaction(conn: sa.Connection) -> Iterator[sa.Connection]:
    """One transaction around every revision applied, so a failed migration changes nothing.

    PostgreSQL has transactional DDL as is. SQLite has it too, but Python's sqlite3 driver only opens a
    transaction before INSERT/UPDATE/DELETE, so CREATE TABLE would autocommit one by one: on SQLite the
    driver's own handling is switched off for this connection and BEGIN IMMEDIATE (also taking the write
    lock at once, so two concurrent upgrades queue instead of interleaving) is sent explicitly. On
    PostgreSQL an advisory lock does that queueing.
    """
    if conn.dialect.name != "sqlite":
        with conn.begin():
            # Several workers may share one PostgreSQL store and all run "db upgrade": the lock (freed at
            # commit) makes them take turns, and each one reads the revision only once it holds it.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            yield conn
        return
    conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # reset when the connection is released
    with conn.begin():  # sqlite3's commit()/rollback() end the transaction we open by hand below
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _run(engine_or_url: Engine | str, action: str, revision: str) -> None:
    with _engine_for(engine_or_url) as engine, _connect(engine) as raw, _ddl_transaction(raw) as conn:
        cfg = _alembic_config(conn)
        try:
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
        except CommandError as exc:
            known = ", ".join(s.revision for s in _scripts().walk_revisions())
            raise ConfigError(
                f"cannot {action} to {revision!r}: {exc} (known revisions: {known}, base, head)"
            ) from None
        except DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise SchemaOutdatedError(
                f"state store {mask_url(engine.url)}: {action} to {revision} failed and was rolled back, "
                f"nothing changed: {reason}"
            ) from None


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Apply the revisions up to *revision*, in one transaction."""
    _run(engine_or_url, "upgrade", revision)


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    """Undo the revisions down to *revision* (``base`` drops everything), in one transaction."""
    _run(engine_or_url, "downgrade", revision)


def _describe(diff: Any) -> str:
    """One line per difference, e.g. ``add_table items`` or ``modify_type runs.status: VARCHAR(8) -> ...``."""
    if isinstance(diff, list):  # column modifications come as a list of tuples for one column
        return "; ".join(_describe(d) for d in diff)
    op = diff[0]
    if op in ("add_table", "remove_table"):
        return f"{op} {diff[1].name}"
    if op in ("add_column", "remove_column"):
        return f"{op} {diff[2]}.{diff[3].name}"
    if op in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        obj = diff[1]
        table = getattr(getattr(obj, "table", None), "name", None) or getattr(obj, "parent", None)
        return f"{op} {table}.{obj.name}"
    if op.startswith("modify_"):
        _, _schema, table, column, _info, old, new = diff
        return f"{op} {table}.{column}: {old!r} -> {new!r}"
    return repr(diff)


def schema_diff(engine: Engine) -> list[str]:
    """How the database's schema differs from the models (empty: identical), one description each."""
    with _connect(engine) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    return [_describe(d) for d in diffs]


def require_current(engine: Engine) -> None:
    """Refuse a store whose schema is not at the head revision, saying which command fixes it."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    url = mask_url(engine.url)
    fix = f"ent-migrate --state {url} db upgrade"
    if current is None:
        raise SchemaOutdatedError(f"state store {url} has no schema (revision none, head is {head}); run: {fix}")
    known = {s.revision for s in _scripts().walk_revisions()}
    if current not in known:
        raise SchemaOutdatedError(
            f"state store {url} is at revision {current}, unknown to this ent-migrate (head {head}): "
            "it was migrated by a newer version; upgrade ent-migrate"
        )
    raise SchemaOutdatedError(f"state store {url} is at revision {current}, head is {head}; run: {fix}")


def open_store(url: str) -> Engine:
    """An engine on a store that is at the head revision (else :class:`SchemaOutdatedError`)."""
    engine = make_engine(url)
    try:
        require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
