"""Shared test set-up. Server fixtures live in tests/servers/ (one module per server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ent_migrate.connectors.memory import MemoryConnector

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.dovecot",
    "tests.servers.slapd",
    "tests.servers.scim",
    "tests.servers.entcore",
]


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """The real-shaped sample files: ``$ENT_MIGRATE_SAMPLES``, default ``../shared/samples`` beside the
    checkout. Absent (a fresh clone elsewhere), the tests using them are skipped and say why; CI has them."""
    setting = os.environ.get("ENT_MIGRATE_SAMPLES")
    path = Path(setting) if setting else Path(__file__).resolve().parents[1].parent / "shared" / "samples"
    if not path.is_dir():
        reason = f"no sample files at {path} (set ENT_MIGRATE_SAMPLES to the shared/samples folder)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the sample tests: {reason}")  # a skip there would hide a failure
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def _fresh_memory_stores() -> None:
    """Every test starts with empty ``memory:`` stores."""
    MemoryConnector.reset()
