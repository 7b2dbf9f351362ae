"""The ``edifice-archive`` source connector (Edifice / ODE user export archives)."""

from __future__ import annotations

from ent_migrate.connectors.edifice_archive.connector import EdificeArchiveConnector, EdificeArchiveOptions

__all__ = ["EdificeArchiveConnector", "EdificeArchiveOptions"]
