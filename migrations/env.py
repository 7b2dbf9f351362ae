"""Alembic environment for the state store, driven from code (no alembic.ini on disk).

``ent_migrate.state.store`` builds an ``alembic.config.Config`` whose ``script_location`` is this installed
package and passes an open connection in ``config.attributes["connection"]``; the revisions then run in
that connection's transaction, so a failed upgrade leaves the database at its previous revision (both
SQLite and PostgreSQL have transactional DDL). A URL in ``sqlalchemy.url`` is accepted too, and offline
mode renders the SQL for a DBA to review.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from ent_migrate.state.models import Base

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
