"""``siecle`` — SIECLE BEE and STS-web XML exports of a secondary school (source: accounts, groups,
relations)."""

from __future__ import annotations

from ent_migrate.connectors.siecle.connector import SiecleConnector

__all__ = ["SiecleConnector"]
