"""``conversation`` — Edifice ENT messaging read from user archives, handed on as RFC 5322 messages."""

from __future__ import annotations

from ent_migrate.connectors.conversation.connector import ConversationConnector, ConversationOptions

__all__ = ["ConversationConnector", "ConversationOptions"]
