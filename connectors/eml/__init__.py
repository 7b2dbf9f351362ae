"""``eml`` — folders of .eml files (one RFC 5322 message per file): source and target of mail."""

from __future__ import annotations

from ent_migrate.connectors.eml.connector import EmlConnector, EmlOptions

__all__ = ["EmlConnector", "EmlOptions"]
