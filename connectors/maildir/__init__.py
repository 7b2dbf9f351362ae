"""``maildir`` — Maildir++ folders per owner (Dovecot's layout): source and target of mail."""

from __future__ import annotations

from ent_migrate.connectors.maildir.connector import MaildirConnector, MaildirOptions

__all__ = ["MaildirConnector", "MaildirOptions"]
