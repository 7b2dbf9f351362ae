"""``mbox`` — one mbox file per folder: reads mboxo/mboxrd/mboxcl/mboxcl2, writes mboxrd byte-faithfully."""

from __future__ import annotations

from ent_migrate.connectors.mbox.connector import MboxConnector, MboxOptions

__all__ = ["MboxConnector", "MboxOptions"]
