"""The conformance kit against the ``conversation`` connector (a source: Edifice messaging tables).

A case's messages are turned into conversation tables (subject, sender, recipients, date, text body,
folder, read state); the connector then *builds* new RFC 5322 messages from them, so ``expected`` is
what a first read gave for each case record, and the kit checks the rest: every record once, stable
reads, ``open_blob`` bytes matching each record, no problems, and the round trip through ``memory``.
Building itself is tested in tests/connectors/conversation/.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import email.utils
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.model import Mailbox, Message, Record
from ent_migrate.registry import open_connector

_NS = uuid.UUID("a3c3f0e8-0f43-4c1b-bb1e-5e3f3b6f1d22")


def _table(path: Path, fields: list[str], rows: Sequence[Sequence[object]]) -> None:
    path.write_text(json.dumps({"fields": fields, "results": rows}), "utf-8")


class ConversationHarness(Harness):
    name = "conversation"
    read: ClassVar[dict[str, Record]] = {}  # case key -> the record a first read gave

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        owners = sorted({r.owner_id for r in dataset.records if isinstance(r, Mailbox | Message)})
        for owner in owners:
            folder = tmp_path / f"archive-{owners.index(owner)}" / "Messaging"
            folder.mkdir(parents=True)
            messages, holdings, folders = [], [], {}
            for record in dataset.records:
                if isinstance(record, Mailbox) and record.owner_id == owner and record.name != "INBOX":
                    parent = None
                    for depth, name in enumerate(record.name.split("/"), 1):
                        ident = str(uuid.uuid5(_NS, f"{owner}|{record.name.split('/')[:depth]}"))
                        folders[ident] = [ident, parent, owner, name, depth, False]
                        parent = ident
                if not (isinstance(record, Message) and record.owner_id == owner):
                    continue
                parsed = email.message_from_bytes(dataset.blobs[record.sha256], policy=email.policy.compat32)
                ident = str(uuid.uuid5(_NS, record.key))
                sender = email.utils.parseaddr(str(parsed["From"] or ""))[1] or "someone"
                date = int((record.date.timestamp() if record.date else 0) * 1000)
                body = parsed.get_payload(decode=True) or b""
                assert isinstance(body, bytes)  # decode=True: bytes for a single part, None for multipart
                text = body.decode(parsed.get_content_charset() or "latin-1", "replace")
                messages.append(
                    [
                        ident,
                        None,
                        str(parsed["Subject"] or ""),
                        f"<p>{text}</p>",
                        sender,
                        "[]",
                        "[]",
                        "[]",
                        "SENT",
                        date,
                    ]
                )
                folder_id = None
                if record.mailbox != "INBOX":
                    folder_id = str(uuid.uuid5(_NS, f"{owner}|{record.mailbox.split('/')}"))
                holdings.append([owner, ident, folder_id, False, "\\Seen" not in record.flags])
            _table(
                folder / "conversation.messages",
                ["id", "parent_id", "subject", "body", "from", "to", "cc", "displayNames", "state", "date"],
                messages,
            )
            _table(
                folder / "conversation.usermessages",
                ["user_id", "message_id", "folder_id", "trashed", "unread"],
                holdings,
            )
            _table(
                folder / "conversation.folders",
                ["id", "parent_id", "user_id", "name", "depth", "trashed"],
                list(folders.values()),
            )
        endpoint = f"conversation:{tmp_path}"
        by_folder: dict[tuple[str, str], list[Record]] = {}
        with open_connector(endpoint) as source:
            for record in source.read_mail():
                by_folder.setdefault((record.owner_id, getattr(record, "mailbox", record.key)), []).append(record)
                self.read[record.key] = record
        for record in dataset.records:  # the case record -> what its conversation form reads as
            if isinstance(record, Message):
                built = next(
                    r
                    for r in by_folder[(record.owner_id, record.mailbox)]
                    if isinstance(r, Message) and str(uuid.uuid5(_NS, record.key)) in r.message_id
                )
                self.read[record.key] = built
        return endpoint

    def expected(self, record: Record) -> Record | None:
        if isinstance(record, Mailbox):
            return record
        found = self.read.get(record.key)
        return dataclasses.replace(found) if found is not None else record


TestConversationKit = kit_tests(ConversationHarness)
