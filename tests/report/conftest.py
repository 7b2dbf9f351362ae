"""Fixtures for the report tests (builders live in _helpers.py)."""

from __future__ import annotations

import pytest

from ent_migrate.privacy import Pseudonymizer


@pytest.fixture
def pseudo() -> Pseudonymizer:
    """A keyed pseudonymiser, as the CLI builds from ``[privacy] key``."""
    return Pseudonymizer(b"test-key".ljust(16, b"."))
