"""``onde`` — ONDE / BE1D CSV extractions of a primary school (source: accounts, groups, relations)."""

from __future__ import annotations

from ent_migrate.connectors.onde.connector import LEVEL_ORDER, OndeConnector, derived_id, level_rank

__all__ = ["LEVEL_ORDER", "OndeConnector", "derived_id", "level_rank"]
