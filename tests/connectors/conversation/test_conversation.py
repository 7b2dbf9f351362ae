"""The ``conversation`` connector on archives written from a generated district: real RFC 5322 messages
(deterministic Message-ID, In-Reply-To, group recipients, text/plain + HTML, attachments), folders and
read/draft/trash state kept; then conversation → IMAP through ``ent-migrate run`` on the real Dovecot."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from ent_migrate.connectors.conversation.fixture import write_conversations
from ent_migrate.fixtures.generator import iter_records
from ent_migrate.model import Mailbox, Message, Person, Profile
from ent_migrate.registry import open_connector
from tests.connectors.imap.test_pipeline import _cli, _target_contents
from tests.servers.dovecot import DovecotServer


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("conversation")
    records = list(iter_records(80, 3, content=False))
    write_conversations(records, root)
    teachers = sorted(r.id for r, _ in records if isinstance(r, Person) and r.profile is Profile.TEACHER)
    return root, teachers


def _read(root: Path) -> tuple[list[Mailbox], dict[str, tuple[Message, EmailMessage, bytes]]]:
    boxes, messages = [], {}
    with open_connector(f"conversation:{root}") as source:
        for record in source.read_mail():
            if isinstance(record, Mailbox):
                boxes.append(record)
            else:
                raw = source.open_blob(record).read()
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                messages[f"{record.owner_id}|{parsed['Subject']}"] = (record, parsed, raw)
        assert not source.problems.to_list()
    return boxes, messages


def test_archives_become_real_messages_in_their_folders(archives: tuple[Path, list[str]]) -> None:
    root, teachers = archives
    assert teachers, "the district has teachers"
    boxes, messages = _read(root)
    teacher = teachers[0]
    names = sorted(b.name for b in boxes if b.owner_id == teacher)
    assert names == ["Drafts", "INBOX", "Sent", "Sorties", "Sorties/2026", "Trash"]
    asked, _, _ = messages[f"{teacher}|Absence de mon enfant"]
    answer, reply, _ = messages[f"{teacher}|Re: Absence de mon enfant"]
    assert asked.mailbox == "INBOX"
    assert asked.flags == (), "unread, so not \\Seen"
    assert answer.mailbox == "Sent"
    assert answer.flags == ("\\Seen",)
    assert reply["In-Reply-To"] == asked.message_id
    assert reply["References"] == asked.message_id
    assert asked.message_id.endswith("@conversation.ent.invalid>")
    meeting = next(m for k, m in messages.items() if k.startswith(f"{teacher}|Réunion de rentrée"))
    to = str(meeting[1]["To"])
    assert to.startswith("Parents "), to
    assert to.replace(" ", "").endswith(":;"), "a class is an RFC 5322 group (its members unlisted)"
    plain = meeting[1].get_body(("plain",))
    html_part = meeting[1].get_body(("html",))
    assert plain is not None
    assert "jeudi" in plain.get_content()
    assert "<b>" not in plain.get_content()
    assert html_part is not None
    assert "<b>jeudi</b>" in html_part.get_content()
    draft = messages[f"{teacher}|Brouillon : sortie au musée"][0]
    assert draft.mailbox == "Drafts"
    assert "\\Draft" in draft.flags
    assert messages[f"{teacher}|Ancien message"][0].mailbox == "Trash"
    filed, parsed, _ = messages[f"{teacher}|Autorisation de sortie"]
    assert filed.mailbox == "Sorties/2026"
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "autorisation.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    assert meeting[0].date is not None
    assert meeting[0].date.tzinfo is dt.UTC


def test_the_same_archive_always_gives_the_same_bytes(archives: tuple[Path, list[str]]) -> None:
    root, _ = archives
    first, second = _read(root)[1], _read(root)[1]
    assert {k: v[2] for k, v in first.items()} == {k: v[2] for k, v in second.items()}
    assert all(v[0].sha256 == second[k][0].sha256 for k, v in first.items())


def test_conversation_to_imap_through_the_cli(
    archives: tuple[Path, list[str]], dovecot: DovecotServer, tmp_path: Path
) -> None:
    root, teachers = archives
    login, _ = dovecot.add_user()
    config = tmp_path / "ent-migrate.toml"
    config.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[source.ent]\nspec = "conversation:{root}"\n'
        f'[target.mail]\nspec = "imap://{dovecot.host}:{dovecot.ssl_port}"\nmaster_user = "{dovecot.master_user}"\n'
        f'password = "${{TEST_IMAP_PASSWORD}}"\nca_file = "{dovecot.ca_file}"\n'
        f'users = {{ "{teachers[0]}" = "{login}" }}\n'
        '[privacy]\nkey = "${ENT_MIGRATE_PSEUDONYM_KEY}"\n[report]\ndir = "reports"\n'
    )
    assert _cli(dovecot, "-c", str(config), "db", "upgrade").returncode == 0
    # Only the first teacher has a mailbox on this target: keep the others out of this run.
    for other in teachers[1:]:
        for path in root.glob(f"*_{other}"):
            path.rename(tmp_path / path.name)
    try:
        result = _cli(dovecot, "-c", str(config), "run", "--yes", "--json")
    finally:
        for path in tmp_path.glob("*_*"):
            if path.is_dir():
                path.rename(root / path.name)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    marks = json.loads(result.stdout)["verify"]["marks"]
    assert sum(n for mark, n in marks.items() if mark != "=") == 0, marks
    assert marks["="] > 6, marks
    contents = _target_contents(dovecot, login)
    assert {"INBOX", "Sent", "Drafts", "Trash", "Sorties", "Sorties/2026"} <= set(contents)
    assert len(contents["Sent"]) >= 2
    assert len(contents["Sorties/2026"]) == 1


def test_a_subject_with_a_line_break_is_one_header_not_a_crash(tmp_path: Path) -> None:
    # a vendor's table may keep a folded or pasted subject with its line breaks: read as one line
    from ent_migrate.connectors.conversation.fixture import table_json

    folder = tmp_path / "u1" / "Messaging"
    folder.mkdir(parents=True)
    fields = ["id", "parent_id", "subject", "body", "from", "to", "cc", "displayNames", "state", "date"]
    row = ["m1", None, "Sortie\r\nBcc: x@evil.example", "<p>texte</p>", "u2", '["u1"]', "[]", "[]", "SENT", 0]
    (folder / "conversation.messages").write_text(table_json(fields, [row]), encoding="utf-8")
    fields = ["user_id", "message_id", "folder_id", "trashed", "unread"]
    (folder / "conversation.usermessages").write_text(table_json(fields, [["u1", "m1", None, False, False]]))
    _, messages = _read(tmp_path)
    ((_, parsed, _),) = messages.values()
    assert str(parsed["Subject"]) == "Sortie  Bcc: x@evil.example"
    assert parsed["Bcc"] is None  # the break never became a header of its own
