"""The ``Messagerie`` folder of a fixture archive: a user's messages as ENT Core conversation tables.

A district's messages are RFC 5322 records; an Edifice archive holds what the messaging app stores
instead, the tables the ``conversation`` connector reads (written with its fixture's
:func:`~ent_migrate.connectors.conversation.fixture.table_json`): one ``messages`` row per message
(subject, HTML body, sender and recipients as ids, epoch milliseconds), one ``usermessages`` row per
holding (folder, trashed, unread), the user's own folders, and the attachments with their bytes under
``Attachments/<id>``. Where a message lives is said the way the ENT says it: ``Sent`` by the user being
the sender, ``Drafts`` by the ``DRAFT`` state, ``Trash`` by ``trashed``, any other folder by a row of
``conversation.folders``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import html
import json
from collections.abc import Callable
from email.message import Message as EmailMessage
from typing import Any

from ent_migrate.connectors.conversation.fixture import table_json
from ent_migrate.model import Mailbox, Message

__all__ = ["conversation_files"]

_MESSAGE_FIELDS = ["id", "parent_id", "subject", "body", "from", "to", "cc", "displayNames", "state", "date"]
_HOLDING_FIELDS = ["user_id", "message_id", "folder_id", "trashed", "unread"]
_FOLDER_FIELDS = ["id", "parent_id", "user_id", "name", "depth", "trashed"]
_ATTACHMENT_FIELDS = ["id", "name", "charset", "filename", "contentType", "contentTransferEncoding", "size"]
_LINK_FIELDS = ["user_id", "message_id", "attachment_id"]


def _text(part: EmailMessage) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        return data.decode(part.get_content_charset() or "utf-8")
    except (LookupError, UnicodeDecodeError):  # an undeclared 8-bit body: kept, as a mail client would
        return data.decode("latin-1")


def _body(parsed: EmailMessage) -> str:
    parts = [p for p in parsed.walk() if not p.is_multipart() and p.get_content_disposition() != "attachment"]
    for subtype in ("html", "plain"):
        part = next((p for p in parts if p.get_content_type() == f"text/{subtype}"), None)
        if part is not None:
            text = _text(part)
            return text if subtype == "html" else "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
    return ""


def _people(value: str | None, uid: Callable[..., str]) -> list[tuple[str, str]]:
    """(display name, ENT id) of each address: ENT messaging has ids, not addresses, so an id is made
    from the address (the conversation connector then writes ``<id>@address_domain``)."""
    return [(name, uid("ent-id", addr.lower())) for name, addr in email.utils.getaddresses([value or ""]) if addr]


def conversation_files(
    owner: str,
    display: str,
    mail: list[tuple[Mailbox | Message, bytes]],
    uid: Callable[..., str],
    *,
    lost_attachment: bool = False,
) -> dict[str, bytes]:
    """Files of the owner's ``Messagerie`` folder (relative paths -> bytes); empty without messages.

    *lost_attachment* links the first message to an attachment whose bytes are not in the archive
    (entcore exports the tables even when a file copy failed).
    """
    messages: list[list[Any]] = []
    holdings: list[list[Any]] = []
    folders: dict[str, list[Any]] = {}
    attachments: list[list[Any]] = []
    links: list[list[Any]] = []
    files: dict[str, bytes] = {}

    def folder_of(path: str) -> str:
        parent = None
        segments = path.split("/")
        for depth in range(1, len(segments) + 1):
            ident = uid(owner, "mail-folder", "/".join(segments[:depth]))
            folders.setdefault(ident, [ident, parent, owner, segments[depth - 1], depth, False])
            parent = ident
        assert parent is not None  # a path has at least one segment
        return parent

    for record, _ in mail:
        if isinstance(record, Mailbox) and record.name not in ("INBOX", "Sent", "Drafts", "Trash"):
            folder_of(record.name)  # an empty folder of the user's is kept
    for record, blob in mail:
        if not isinstance(record, Message):
            continue
        parsed = email.message_from_bytes(blob, policy=email.policy.compat32)
        ident = uid(owner, "message", record.key)
        sender = _people(parsed["From"], uid)
        to, cc = _people(parsed["To"], uid), _people(parsed["Cc"], uid)
        names = [f"{owner}${display}$"] if display else []
        names += [f"{ident}${name}$" for name, ident in sender + to + cc if name]
        when = record.date or _date(parsed["Date"])
        mailbox, folder_id, trashed = record.mailbox, None, False
        state = "DRAFT" if mailbox == "Drafts" else "SENT"
        if mailbox == "Trash":
            trashed = True
        elif mailbox not in ("INBOX", "Sent", "Drafts"):
            folder_id = folder_of(mailbox)
        messages.append([
            ident, None, str(parsed["Subject"] or ""), _body(parsed),
            owner if mailbox == "Sent" else (sender[0][1] if sender else ""),
            json.dumps([a for _, a in to]), json.dumps([a for _, a in cc]),
            json.dumps(names, ensure_ascii=False), state, int(when.timestamp() * 1000),
        ])  # fmt: skip
        holdings.append([owner, ident, folder_id, trashed, "\\Seen" not in record.flags])
        for number, part in enumerate(p for p in parsed.walk() if p.get_content_disposition() == "attachment"):
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            attachment = uid(owner, "attachment", record.key, str(number))
            filename = part.get_filename() or attachment
            attachments.append([attachment, filename, "UTF-8", filename, part.get_content_type(), "binary", len(data)])
            links.append([owner, ident, attachment])
            files[f"Attachments/{attachment}"] = data
    if not messages:
        return {}
    if lost_attachment:
        attachment = uid(owner, "lost-attachment")
        attachments.append([attachment, "piece.pdf", "UTF-8", "piece.pdf", "application/pdf", "binary", 1024])
        links.append([owner, messages[0][0], attachment])
    for table, fields, rows in (
        ("messages", _MESSAGE_FIELDS, messages),
        ("usermessages", _HOLDING_FIELDS, holdings),
        ("folders", _FOLDER_FIELDS, list(folders.values())),
        ("attachments", _ATTACHMENT_FIELDS, attachments),
        ("usermessagesattachments", _LINK_FIELDS, links),
    ):
        files[f"conversation.{table}"] = table_json(fields, rows).encode()
    return files


def _date(value: str | None) -> dt.datetime:
    try:
        moment = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError):
        return dt.datetime(2026, 9, 14, 8, 0, tzinfo=dt.UTC)  # the archives' own export moment
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
