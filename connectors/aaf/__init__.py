"""``aaf`` — source connector for AAF ``ficAlimMENESR`` bundles (1D/2D, full and delta).

Layout follows ``connectors/memory``: ``connector.py`` holds the class; ``parse.py`` turns XML
requests into entries, ``mapping.py`` entries into canonical records, ``values.py`` the format's
small conventions (shared with ``writer.py``, the fixture writer, which imports the reader's rules).
"""

from __future__ import annotations

from ent_migrate.connectors.aaf.connector import AafConnector

__all__ = ["AafConnector"]
