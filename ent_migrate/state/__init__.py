"""The state store: SQLAlchemy models, schema revisions (Alembic), how a store is found and opened,
and :class:`StateStore`, the typed API every stage and command goes through (no SQL outside this
package)."""

from __future__ import annotations

from ent_migrate.state.api import StateStore
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
    "StateStore",
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
