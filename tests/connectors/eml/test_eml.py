"""The ``eml`` connector: a hand-back's folders of .eml files (LF endings, any names, empty folders,
other files beside them), the mtime as internal date, exact copies kept apart, atomic writes."""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from pathlib import Path

from ent_migrate.contract import Action, Operation
from ent_migrate.mail import sha256_hex, wire_form
from ent_migrate.model import Mailbox, Message
from ent_migrate.registry import open_connector

RAW = b"Message-ID: <e1@x>\nSubject: =?utf-8?q?R=C3=A9union?=\n\nBonjour\n"


def test_a_hand_back_is_read_in_wire_form_with_its_folders(tmp_path: Path) -> None:
    inbox = tmp_path / "ac-x$42" / "INBOX"
    (inbox / "Archivés").mkdir(parents=True)
    (tmp_path / "ac-x$42" / "Éléments envoyés").mkdir()
    (inbox / "0001.eml").write_bytes(RAW)
    (inbox / "notes.txt").write_text("not a message")
    os.utime(inbox / "0001.eml", (1773126900, 1773126900))
    with open_connector(f"eml:{tmp_path}") as source:
        records = list(source.read_mail())
        (message,) = [r for r in records if isinstance(r, Message)]
        assert source.open_blob(message).read() == wire_form(RAW)
    assert sorted(r.name for r in records if isinstance(r, Mailbox)) == ["INBOX", "INBOX/Archivés", "Sent"]
    assert message.owner_id == "ac-x$42"
    assert message.message_id == "<e1@x>"
    assert message.sha256 == sha256_hex(wire_form(RAW))
    assert message.date == dt.datetime.fromtimestamp(1773126900, dt.UTC)


def test_exact_copies_are_two_files_and_a_rewrite_is_no_third(tmp_path: Path) -> None:
    raw = wire_form(RAW)
    for _ in range(2):
        with open_connector(f"eml:{tmp_path}", {"durable": False}) as target:
            for key in ("<e1@x>", "<e1@x>#2"):
                record = Message(
                    owner_id="o",
                    mailbox="INBOX",
                    message_id=key,
                    sha256=sha256_hex(raw),
                    size=len(raw),
                    date=dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
                )
                target.write(
                    Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record), io.BytesIO(raw)
                )
    files = sorted(p.name for p in (tmp_path / "o" / "INBOX").iterdir())
    assert files == [f"{sha256_hex(raw)}.2.eml", f"{sha256_hex(raw)}.eml"], "no temporary file is left either"
    with open_connector(f"eml:{tmp_path}") as source:
        keys = sorted(r.message_id for r in source.read_mail() if isinstance(r, Message))
    assert keys == ["<e1@x>", "<e1@x>#2"]
