"""Shared test set-up. Server fixtures live in tests/servers/ (one module per server)."""

from __future__ import annotations

import pytest

from ent_migrate.connectors.memory import MemoryConnector

pytest_plugins = ["tests.servers.postgres"]


@pytest.fixture(autouse=True)
def _fresh_memory_stores() -> None:
    """Every test starts with empty ``memory:`` stores."""
    MemoryConnector.reset()
