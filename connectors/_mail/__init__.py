"""The base every mail connector (imap, maildir, mbox, eml) builds on: see :mod:`.base`.

Not a connector itself (it has no entry point); the message logic it rests on is :mod:`ent_migrate.mail`.
"""

from __future__ import annotations

from ent_migrate.connectors._mail.base import (
    FileTreeMailConnector,
    Folder,
    MailConnector,
    Stored,
    fsync_dir,
    owner_from_segment,
    owner_segment,
    place_of,
)

__all__ = [
    "FileTreeMailConnector",
    "Folder",
    "MailConnector",
    "Stored",
    "fsync_dir",
    "owner_from_segment",
    "owner_segment",
    "place_of",
]
