"""Issue 15: right after a district is loaded, PostgreSQL's planner statistics still say its tables are
nearly empty (autovacuum comes by later), and reconcile's reads went through every guardianship of the
run for each batch. extract and reconcile refresh them; SQLite plans without them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.pipeline import do_plan
from ent_migrate.pipeline.runner import open_run
from ent_migrate.state import StateStore, make_engine, upgrade
from tests.pipeline._helpers import context, district, fill


def _planned_rows(db: Engine, name: str) -> float:
    """What the planner believes a table holds (-1: never analyzed)."""
    with db.connect() as conn:
        return float(conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name}).scalar_one())


def test_a_plan_on_postgresql_leaves_the_planner_knowing_the_run(tmp_path: Path, postgres_database: str) -> None:
    db = make_engine(postgres_database)
    try:
        upgrade(db)
        assert _planned_rows(db, "items") == -1  # a fresh store: never analyzed
        MemoryConnector.reset()
        records = fill(MemoryConnector.named_store("src"), district(pupils=30))
        ctx = context(tmp_path, db=db)
        do_plan(ctx, open_run(ctx))
        with db.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
        assert held >= records
        assert _planned_rows(db, "items") >= records  # extract's refresh (plan adds no source rows)
        assert _planned_rows(db, "identities") > 0  # reconcile's
    finally:
        db.dispose()


def test_sqlite_is_left_without_statistics(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(db)
    StateStore(db).refresh_statistics()
    with db.connect() as conn:
        assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).all() == []
    db.dispose()
