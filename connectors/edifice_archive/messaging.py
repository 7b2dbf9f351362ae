"""An archive's ``Messagerie`` folder, handed to the ``conversation`` connector.

The messaging app exports the very tables the ``conversation`` connector reads, so its folder is
copied (through the safe :class:`ent_migrate.archive.Archive` reader, member by member) to
``<private temp>/<n>/Messaging/`` — the layout that connector expects — and one
:class:`~ent_migrate.connectors.conversation.ConversationConnector` over the temp root builds every
user's RFC 5322 messages. What the audit needs besides (messages held, attachments linked but absent,
the user's display name) is read here from the same copied tables with the connector's ``load_table``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ent_migrate.connectors.conversation.connector import load_table

__all__ = ["MESSAGING_DIR", "Messaging", "copy_messaging"]

#: the folder name the conversation connector looks for in each user archive
MESSAGING_DIR = "Messaging"


@dataclasses.dataclass(frozen=True, slots=True)
class Messaging:
    """What one user's copied conversation tables say, beyond the messages themselves."""

    user: str | None  # the ENT id holding the messages (usermessages.user_id), None when unreadable
    held: int  # messages the user holds
    lost: tuple[str, ...]  # attachment ids linked to a message of theirs whose row or bytes are absent
    display: str  # the user's own display name in the messages, "" when absent


def _rows(folder: Path, table: str) -> list[dict[str, Any]]:
    path = folder / f"conversation.{table}"
    try:
        return load_table(path) if path.is_file() else []
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return []  # the conversation connector reports a malformed table when it reads it


def _own_name(rows: Iterable[dict[str, Any]], user: str) -> str:
    for row in rows:
        raw = row.get("displayNames")
        try:
            entries = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            parts = entry.split("$") if isinstance(entry, str) else [str(x) for x in entry]
            if len(parts) >= 2 and parts[0] == user and parts[1]:
                return parts[1]
    return ""


def copy_messaging(members: Iterable[str], read: Callable[[str], bytes], dest: Path) -> Messaging:
    """Copy the folder's *members* (paths relative to it, already checked by the Archive reader) to
    ``dest/Messaging/`` and describe them."""
    folder = dest / MESSAGING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for rel in members:
        if rel.endswith("/"):
            continue
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(rel))
    holdings = _rows(folder, "usermessages")
    users = sorted({str(r["user_id"]) for r in holdings if r.get("user_id")})
    user = users[0] if len(users) == 1 else None
    messages = _rows(folder, "messages")
    ids = {str(m.get("id")) for m in messages}
    known = {str(a.get("id")) for a in _rows(folder, "attachments")}
    present = {p.name for p in folder.glob("*/*") if p.is_file()}  # where the connector looks for bytes
    lost = sorted(
        {
            str(link.get("attachment_id"))
            for link in _rows(folder, "usermessagesattachments")
            if str(link.get("user_id")) == user
            and (str(link.get("attachment_id")) not in known or str(link.get("attachment_id")) not in present)
        }
    )
    held = sum(1 for h in holdings if str(h.get("message_id")) in ids) if user else 0
    return Messaging(user, held, tuple(lost), _own_name(messages, user) if user else "")
