"""The schema is built by the numbered Alembic revisions and equals the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ent_migrate.errors import ConfigError, SchemaOutdatedError
from ent_migrate.state import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    open_store,
    require_current,
    schema_diff,
    upgrade,
)
from ent_migrate.state.models import Base, Item, Run
from ent_migrate.state.store import _alembic_config

TABLES = {
    "runs",
    "stage_checkpoints",
    "items",
    "identities",
    "identity_aliases",
    "identity_blocks",
    "identity_blocks_pending",
    "identity_facts",
    "identity_merges",
    "review_queue",
    "id_map",
    "journal",
    "content_ledger",
    "reports",
    "input_problems",
    "run_locks",
    "promotion_pupils",
    "promotion_transitions",
    "audits",
}


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_one_numbered_head() -> None:
    scripts = ScriptDirectory.from_config(_alembic_config())
    assert scripts.get_heads() == ["0008"]
    assert head_revision() == "0008"
    # a straight line: each revision revises the one before it
    chain = [s.revision for s in scripts.walk_revisions()]
    assert chain == ["0008", "0007", "0006", "0005", "0004", "0003", "0002", "0001"]
    for script in scripts.walk_revisions():
        assert re.fullmatch(r"\d{4}", script.revision), script.revision
        assert script.path.endswith(f"{script.revision}_{script.path.rsplit('_', 1)[-1]}")


def test_models_declare_exactly_the_agreed_tables() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_upgrade_from_empty_equals_models(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert schema_diff(engine)  # an empty database differs from the models...
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) == TABLES
    assert schema_diff(engine) == []  # ...the migrated one does not


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert _tables(engine) == set()
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert schema_diff(engine)  # 0001 lacks what 0002 adds...
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []  # ...and the later revisions on top of 0001 equal the models
    downgrade(engine, "0001")  # one step back keeps the older tables
    assert "runs" in _tables(engine)
    assert "input_problems" not in _tables(engine)
    upgrade(engine)
    upgrade(engine)  # already at head: a no-op, not an error
    assert current_revision(engine) == head_revision()


def test_schema_diff_sees_a_hand_made_change(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN extra TEXT")
        conn.exec_driver_sql("DROP INDEX ix_items_run_id_kind_id")
    diff = schema_diff(engine)
    assert "remove_column runs.extra" in diff
    assert "add_index items.ix_items_run_id_kind_id" in diff


def test_require_current_refuses_empty_then_downgraded(engine: Engine) -> None:
    with pytest.raises(SchemaOutdatedError) as empty:
        require_current(engine)
    assert "none" in str(empty.value)
    assert "db upgrade" in str(empty.value)
    upgrade(engine)
    require_current(engine)  # at head: accepted
    downgrade(engine, "base")
    with pytest.raises(SchemaOutdatedError) as down:
        require_current(engine)
    message = str(down.value)
    assert f"ent-migrate --state {engine.url.render_as_string(hide_password=True)} db upgrade" in message
    assert head_revision() in message


def test_require_current_refuses_a_revision_from_a_newer_version(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaOutdatedError, match=r"9999.*newer"):
        require_current(engine)


def test_open_store_only_at_head(state_url: str) -> None:
    with pytest.raises(SchemaOutdatedError):
        open_store(state_url)
    upgrade(state_url)
    engine = open_store(state_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_rows_round_trip_with_aware_utc_and_cascade(engine: Engine) -> None:
    upgrade(engine)
    paris = dt.timezone(dt.timedelta(hours=1))
    stamp = dt.datetime(2026, 9, 1, 8, 30, tzinfo=paris)
    with Session(engine) as session, session.begin():
        session.add(
            Run(
                id="r1",
                source="memory:a",
                target="memory:b",
                status="running",
                config_digest="0" * 64,
                created_at=stamp,
            )
        )
        session.flush()  # no ORM relationship orders the inserts: the run goes first
        session.add(Item(run_id="r1", kind="person", key="p1", state="extracted", payload={"k": ["é", 1]}))
    with Session(engine) as session:
        run = session.get(Run, "r1")
        assert run is not None
        assert run.created_at == stamp
        assert run.created_at.tzinfo is not None
        assert run.created_at.utcoffset() == dt.timedelta(0)
        assert run.updated_at.tzinfo is not None
        item = session.scalars(sa.select(Item)).one()
        assert item.payload == {"k": ["é", 1]}
        assert item.attempts == 0
    with engine.begin() as conn:  # ON DELETE CASCADE (SQLite needs foreign_keys=ON for it)
        runs = Run.__table__
        assert isinstance(runs, sa.Table)  # the ORM types it as any FromClause
        conn.execute(sa.delete(runs).where(runs.c.id == "r1"))
        assert conn.execute(sa.select(sa.func.count()).select_from(Item.__table__)).scalar_one() == 0


def test_naive_datetime_is_refused(engine: Engine) -> None:
    upgrade(engine)
    with Session(engine) as session:
        session.add(
            Run(
                id="r2",
                source="s",
                target="t",
                status="running",
                config_digest="0" * 64,
                created_at=dt.datetime(2026, 1, 1),  # the naive value under test
            )
        )
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            session.flush()


def test_unique_keys_hold(engine: Engine) -> None:
    upgrade(engine)
    ins = sa.insert(Base.metadata.tables["id_map"])
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(ins, {"source": "aaf", "old_id": "1", "new_id": "n1", "new_login": "a.b", "created_at": now})
        conn.execute(ins, {"source": "aaf", "old_id": "2", "new_id": "n2", "new_login": None, "created_at": now})
        conn.execute(ins, {"source": "aaf", "old_id": "3", "new_id": "n3", "new_login": None, "created_at": now})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(ins, {"source": "aaf", "old_id": "4", "new_id": "n4", "new_login": "a.b", "created_at": now})


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"this is not a SQLite database, only text " * 10)
    engine = make_engine(f"sqlite:///{bad}")
    with pytest.raises(ConfigError, match=r"notes\.db cannot be opened: file is not a database"):
        current_revision(engine)
    engine.dispose()


def test_offline_sql_and_url_driven_env(tmp_path: Path) -> None:
    """env.py's other two paths: SQL rendered for review (offline) and a URL instead of a connection."""
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    cfg = _alembic_config()
    cfg.output_buffer = io.StringIO()
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head", sql=True)
    sql = cfg.output_buffer.getvalue()
    assert "CREATE TABLE runs" in sql
    assert "CREATE INDEX ix_items_run_id_kind_id" in sql
    assert not (tmp_path / "by-url.db").exists()  # offline touches no database
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_schema_diff_sees_a_changed_type_on_postgresql(postgres_database: str) -> None:
    engine = make_engine(postgres_database)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE runs ALTER COLUMN status TYPE VARCHAR(32)")
            conn.exec_driver_sql("ALTER TABLE items ALTER COLUMN mark SET NOT NULL")
        diff = schema_diff(engine)
        assert any(d.startswith("modify_type runs.status: VARCHAR(length=32)") for d in diff), diff
        assert any(d.startswith("modify_nullable items.mark") for d in diff), diff
    finally:
        engine.dispose()


def test_failed_upgrade_changes_nothing(engine: Engine) -> None:
    # A table in the way of the *last* create_table: the tables created before it must be rolled back too.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE reports (x INTEGER)")
    with pytest.raises(SchemaOutdatedError, match="rolled back"):
        upgrade(engine)
    assert _tables(engine) == {"reports"}
    assert current_revision(engine) is None
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE reports")
    upgrade(engine)
    assert schema_diff(engine) == []


def test_concurrent_upgrades_take_turns(state_url: str) -> None:
    """Workers sharing a store may all run "db upgrade" at once: each must succeed, the schema once."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            upgrade(state_url)
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = make_engine(state_url)
    try:
        assert current_revision(engine) == head_revision()
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_revision_0008_keeps_the_blocking_keys_and_the_way_back_keeps_the_pending_ones(engine: Engine) -> None:
    """identity_blocks is copied to change its unique index (SQLite cannot drop a constraint in place):
    every key survives, and each pair is still kept once; going back, keys a stopped reconcile left
    pending go where the older ent-migrate looks for them."""
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO identities (id, canonical_id, profile, created_at) VALUES"
            " (1, 'p1', 'student', '2026-12-07 00:00:00'), (2, 'p2', 'student', '2026-12-07 00:00:00')"
        )
        conn.exec_driver_sql("INSERT INTO identity_blocks (identity_id, block) VALUES (1, 'b1'), (1, 'b2'), (2, 'b1')")
    upgrade(engine)
    assert schema_diff(engine) == []

    def blocks() -> list[tuple[int, str]]:
        with engine.connect() as conn:
            return sorted(
                (int(i), str(b)) for i, b in conn.exec_driver_sql("SELECT identity_id, block FROM identity_blocks")
            )

    assert blocks() == [(1, "b1"), (1, "b2"), (2, "b1")]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO identity_blocks (identity_id, block) VALUES (2, 'b1')")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO identity_blocks_pending (identity_id, block) VALUES (2, 'b3'), (2, 'b3'), (1, 'b1')"
        )
    downgrade(engine, "0007")
    assert blocks() == [(1, "b1"), (1, "b2"), (2, "b1"), (2, "b3")]
    assert "identity_blocks_pending" not in _tables(engine)
