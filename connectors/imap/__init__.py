"""``imap`` — IMAP accounts (IMAPS or STARTTLS, verified), source and target of mail."""

from __future__ import annotations

from ent_migrate.connectors.imap.connector import ImapConnector, ImapOptions

__all__ = ["ImapConnector", "ImapOptions"]
