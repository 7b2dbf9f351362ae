"""The state store: SQLAlchemy models, schema revisions (Alembic) and how a store is found and opened."""

from __future__ import annotations

from ent_migrate.state.store import (
    DEFAULT_STATE_FILE,
    STATE_ENV,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    mask_url,
    normalize_url,
    open_store,
    require_current,
    resolve_state_url,
    schema_diff,
    upgrade,
)

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
