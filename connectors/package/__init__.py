"""``package`` — the open reversibility package (folder or ``.zip``), as a source and as a target.

Layout: ``layout.py`` (names, paths, schemas), ``reader.py`` (verify and stream), ``writer.py``
(crash-safe folder target, zip packing), ``connector.py`` (the contract). docs/package-format.md
is the format's reference for vendors.
"""

from __future__ import annotations

from ent_migrate.connectors.package.connector import PackageConnector

__all__ = ["PackageConnector"]
