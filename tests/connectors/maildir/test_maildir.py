"""The ``maildir`` connector: flags as info letters, keywords through dovecot-keywords, new/ and cur/,
Maildir++ names in modified UTF-7, a message left in tmp/ by a kill never read, flag updates by rename."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path

import pytest

from ent_migrate.contract import Action, Operation
from ent_migrate.errors import TerminalError
from ent_migrate.mail import sha256_hex, wire_form
from ent_migrate.model import Mailbox, Message
from ent_migrate.registry import open_connector

RAW = b"Message-ID: <d1@x>\nSubject: d\n\nbody\n"


def _maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def test_flags_keywords_and_folders_are_read_as_dovecot_writes_them(tmp_path: Path) -> None:
    user = _maildir(tmp_path / "u1")
    archive = _maildir(user / ".INBOX.Archiv&AOk-s")
    (archive / "dovecot-keywords").write_text("0 Projet\n1 $Label1\n")
    (archive / "cur" / "1773126900.M1P2.host,S=40:2,FRSab").write_bytes(RAW)
    (user / "new" / "1773126901.M3P4.host").write_bytes(RAW.replace(b"d1", b"d2"))
    (user / "tmp" / "1773126902.M5P6.host").write_bytes(b"half a mess")  # what a kill leaves
    with open_connector(f"maildir:{tmp_path}") as source:
        records = list(source.read_mail())
    assert sorted(r.name for r in records if isinstance(r, Mailbox)) == ["INBOX", "INBOX/Archivés"]
    by_id = {r.message_id: r for r in records if isinstance(r, Message)}
    assert set(by_id) == {"<d1@x>", "<d2@x>"}
    assert by_id["<d1@x>"].flags == ("\\Seen", "\\Answered", "\\Flagged", "$Label1", "Projet")
    assert by_id["<d2@x>"].flags == ()
    assert by_id["<d2@x>"].sha256 == sha256_hex(wire_form(RAW.replace(b"d1", b"d2")))


def _write(root: Path, flags: tuple[str, ...], mailbox: str = "INBOX") -> None:
    raw = wire_form(RAW)
    record = Message(
        owner_id="u1",
        mailbox=mailbox,
        message_id="<d1@x>",
        sha256=sha256_hex(raw),
        size=len(raw),
        flags=flags,
        date=dt.datetime(2026, 3, 10, 7, 15, tzinfo=dt.UTC),
    )
    with open_connector(f"maildir:{root}", {"durable": False}) as target:
        target.write(Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record), io.BytesIO(raw))


def test_writes_store_lf_and_a_flag_change_renames(tmp_path: Path) -> None:
    _write(tmp_path, ("\\Seen", "Projet"))
    (name,) = [p.name for p in (tmp_path / "u1" / "cur").iterdir()]
    assert name.endswith(":2,Sa")
    assert (tmp_path / "u1" / "cur" / name).read_bytes() == RAW
    assert (tmp_path / "u1" / "dovecot-keywords").read_text() == "0 Projet\n"
    _write(tmp_path, ("\\Flagged",))
    (renamed,) = [p.name for p in (tmp_path / "u1" / "cur").iterdir()]
    assert renamed.endswith(":2,F")
    assert renamed.rpartition(":2,")[0] == name.rpartition(":2,")[0]


def test_a_dot_in_a_folder_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TerminalError, match="cannot hold a dot"):
        _write(tmp_path, (), mailbox="Projets/v1.2")


def test_copies_written_out_of_order_are_all_kept(tmp_path: Path) -> None:
    # two exact copies of one message (keys <d1@x> and <d1@x>#2) reach the target out of order, as
    # concurrent workers or a resumed run send them: the second must not take the first's place
    raw = wire_form(RAW)

    def copy(key: str, flags: tuple[str, ...]) -> Message:
        return Message(
            owner_id="u1", mailbox="INBOX", message_id=key, sha256=sha256_hex(raw), size=len(raw), flags=flags
        )

    for _ in range(2):  # and a repeated apply adds nothing
        with open_connector(f"maildir:{tmp_path}", {"durable": False}) as target:
            for record in (copy("<d1@x>#2", ()), copy("<d1@x>", ("\\Seen",))):
                target.write(
                    Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record), io.BytesIO(raw)
                )
        files = [p for sub in ("cur", "new") for p in (tmp_path / "u1" / sub).iterdir()]
        assert len(files) == 2
    with open_connector(f"maildir:{tmp_path}") as source:
        read = {r.message_id: r.flags for r in source.read_mail() if isinstance(r, Message)}
    assert set(read) == {"<d1@x>", "<d1@x>#2"}
    assert sorted(read.values()) == [(), ("\\Seen",)]
