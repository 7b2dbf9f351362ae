"""The ``imap`` connector against a real Dovecot: TLS verified, master user and SASL authorization
identity, what carries (flags, keywords, INTERNALDATE, \\Deleted never expunged), size limits, BODY.PEEK,
idempotent writes without any journal, and a Maildir written by Dovecot read by the maildir connector."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path
from typing import Any

import imapclient  # type: ignore[import-untyped]  # IMAPClient ships neither stubs nor py.typed
import pytest

from ent_migrate.contract import Action, Operation
from ent_migrate.errors import TerminalError
from ent_migrate.mail import content_id, sha256_hex, wire_form
from ent_migrate.model import Mailbox, Message
from ent_migrate.registry import open_connector
from tests.servers.dovecot import APPEND_LIMIT, DovecotServer

OWNER = "ac-test$t9"
WHEN = dt.datetime(2026, 3, 10, 7, 15, tzinfo=dt.UTC)


def _raw(n: int, *, body: str = "Bonjour", lf: bool = False, message_id: bool = True) -> bytes:
    head = [f"Message-ID: <imap-{n}@example.org>"] if message_id else []
    head += [
        "Date: Tue, 10 Mar 2026 08:15:00 +0100",
        "From: a@example.org",
        "To: b@example.org",
        f"Subject: test {n}",
        "",
    ]
    return ("\n" if lf else "\r\n").join([*head, body, ""]).encode()


def _options(server: DovecotServer, login: str, **extra: Any) -> dict[str, Any]:
    return {
        "users": {OWNER: login},
        "master_user": server.master_user,
        "password": server.master_password,
        "ca_file": str(server.ca_file),
        **extra,
    }


def _spec(server: DovecotServer, *, starttls: bool = False) -> str:
    return f"imap://{server.host}:{server.port if starttls else server.ssl_port}"


def _client(server: DovecotServer, login: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(server.host, server.ssl_port, ssl_context=server.ssl_context())
    client.login(f"{login}*{server.master_user}", server.master_password)
    client.normalise_times = False
    return client


def _write(
    connector: Any,
    raw: bytes,
    *,
    flags: tuple[str, ...] = (),
    mailbox: str = "INBOX",
    date: dt.datetime | None = WHEN,
    key: str | None = None,
) -> Message:
    record = Message(
        owner_id=OWNER,
        mailbox=mailbox,
        message_id=key or f"<{uuid.uuid4().hex}@k>",
        sha256=sha256_hex(raw),
        size=len(raw),
        flags=flags,
        date=date,
    )
    connector.write(Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record), io.BytesIO(raw))
    return record


def _mailbox(connector: Any, name: str) -> None:
    record = Mailbox(owner_id=OWNER, name=name)
    connector.write(Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record))


def test_tls_is_verified_against_the_given_ca(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    trusted = open_connector(_spec(dovecot), _options(dovecot, login)).check()
    assert trusted.reachable, trusted.detail
    assert trusted.authenticated, trusted.detail
    assert "IMAPS" in trusted.detail
    assert "UIDPLUS" in trusted.detail
    assert "SPECIAL-USE" in trusted.detail
    # Without the throwaway CA the certificate is not trusted: refused, never used unverified.
    untrusted = open_connector(_spec(dovecot), {**_options(dovecot, login), "ca_file": None}).check()
    assert not untrusted.reachable
    assert "not trusted" in untrusted.detail
    starttls = open_connector(_spec(dovecot, starttls=True), _options(dovecot, login, starttls=True)).check()
    assert starttls.authenticated
    assert "STARTTLS" in starttls.detail


def test_master_user_and_authorization_identity_open_the_mailbox(dovecot: DovecotServer) -> None:
    login, password = dovecot.add_user()
    with _client(dovecot, login) as client:
        client.append("INBOX", _raw(1))
    for options in (
        _options(dovecot, login),
        _options(dovecot, login, auth="authzid"),
        {"users": {OWNER: login}, "password": password, "ca_file": str(dovecot.ca_file)},
    ):
        with open_connector(_spec(dovecot), options) as source:
            messages = [r for r in source.read_mail() if isinstance(r, Message)]
        assert [m.message_id for m in messages] == ["<imap-1@example.org>"], options.get("auth")
    wrong = open_connector(_spec(dovecot), {**_options(dovecot, login), "password": "not-it"}).check()
    assert wrong.reachable
    assert wrong.authenticated is False


def test_flags_keywords_and_internaldate_carry_and_deleted_is_never_expunged(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    flags = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Forwarded", "Projet")
    with open_connector(_spec(dovecot), _options(dovecot, login)) as target:
        _write(target, _raw(1), flags=flags)
        _write(target, _raw(2, lf=True), flags=())
        assert not target.problems.to_list(), "Dovecot keeps every flag and the date: nothing to report"
    with open_connector(_spec(dovecot), _options(dovecot, login)) as source:
        read = {m.message_id: m for m in source.read_mail() if isinstance(m, Message)}
    assert read["<imap-1@example.org>"].flags == flags
    assert read["<imap-1@example.org>"].date == WHEN
    assert read["<imap-2@example.org>"].sha256 == sha256_hex(wire_form(_raw(2, lf=True)))
    with _client(dovecot, login) as client:
        client.select_folder("INBOX")
        assert len(client.search("ALL")) == 2, "the \\Deleted message must stay (never expunged)"


def test_reading_never_marks_a_message_seen(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    with _client(dovecot, login) as client:
        client.append("INBOX", _raw(1))
    with open_connector(_spec(dovecot), _options(dovecot, login)) as source:
        for record in source.read_mail():
            if isinstance(record, Message):
                assert source.open_blob(record).read() == _raw(1)
    with _client(dovecot, login) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("UNSEEN"), "BODY.PEEK[] only: the source must stay unread"


def test_a_message_over_the_size_limit_fails_before_append(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    with open_connector(_spec(dovecot), _options(dovecot, login, max_message_size=500)) as target:
        with pytest.raises(TerminalError, match="over the target's limit of 500 bytes"):
            _write(target, _raw(1, body="x" * 1000))
        _write(target, _raw(2))
    with _client(dovecot, login) as client:
        client.select_folder("INBOX")
        assert len(client.search("ALL")) == 1


def test_the_server_s_own_size_cap_fails_the_item_with_its_reason(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    with open_connector(_spec(dovecot), _options(dovecot, login)) as target:
        with pytest.raises(TerminalError, match="too big or over quota"):
            _write(target, _raw(1, body="x" * (APPEND_LIMIT + 1024)))
        assert not [p for p in target.problems.to_list() if p["severity"] == "error"]


def test_writes_are_idempotent_without_any_journal(dovecot: DovecotServer) -> None:
    """The same message written again by new connector instances (new op ids, another line ending) is
    found by content and not appended twice; a second exact copy is a second message."""
    login, _ = dovecot.add_user()
    for _ in range(2):
        with open_connector(_spec(dovecot), _options(dovecot, login)) as target:
            _write(target, _raw(1), key="<imap-1@example.org>")
            _write(target, _raw(1, lf=True), key="<imap-1@example.org>")
            _write(target, _raw(3, message_id=False), key=f"cid:{content_id(_raw(3, message_id=False))}")
            _write(target, _raw(4), key="<imap-4@example.org>")
            _write(target, _raw(4), key="<imap-4@example.org>#2")
            _write(target, _raw(5), key="<imap-5@example.org>", flags=("\\Seen",))
    with open_connector(_spec(dovecot), _options(dovecot, login)) as target:  # a flag change is an update
        _write(target, _raw(5), key="<imap-5@example.org>", flags=("\\Flagged",))
    with _client(dovecot, login) as client:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        assert len(uids) == 5, "one copy each, two of the message written twice as #1 and #2"
        flagged = client.search(["FLAGGED"])
        assert len(flagged) == 1
        assert not set(client.search(["SEEN"])) & set(flagged)


def test_folders_are_matched_by_role_and_names_travel_in_utf7(dovecot: DovecotServer) -> None:
    login, _ = dovecot.add_user()
    with _client(dovecot, login) as client:
        client.create_folder("Éléments envoyés")  # \Sent on this server
    with open_connector(_spec(dovecot), _options(dovecot, login)) as target:
        for name in ("Sent", "Sent/2025", "INBOX/Archivés", "Projets/R&D"):
            _mailbox(target, name)
        _write(target, _raw(1), mailbox="Sent")
    with _client(dovecot, login) as client:
        names = {name for _, _, name in client.list_folders()}
        assert {"Éléments envoyés", "Éléments envoyés/2025", "INBOX/Archivés", "Projets/R&D"} <= names
        assert "Sent" not in names, "the Sent role exists: no folder named Sent may be created"
        client.select_folder("Éléments envoyés")
        assert len(client.search("ALL")) == 1
    with open_connector(_spec(dovecot), _options(dovecot, login)) as source:
        boxes = sorted(r.name for r in source.read_mail() if isinstance(r, Mailbox))
    assert boxes == ["INBOX", "INBOX/Archivés", "Projets", "Projets/R&D", "Sent", "Sent/2025"]


def test_dovecot_s_own_maildir_reads_like_its_imap(dovecot: DovecotServer) -> None:
    """Cross-check with another implementation: the Maildir Dovecot wrote, read by the maildir
    connector, gives the records the IMAP connector reads (keys, SHA-256 of the wire form, flags with
    keywords, INTERNALDATE as mtime, folders by role)."""
    login, _ = dovecot.add_user()
    with _client(dovecot, login) as client:
        client.create_folder("Éléments envoyés")
        client.create_folder("INBOX/Archivés")
        client.append("INBOX", _raw(1, lf=True), flags=[b"\\Seen", b"Projet"], msg_time=WHEN)
        client.append("INBOX", _raw(2, message_id=False), flags=[b"\\Answered", b"$Forwarded"], msg_time=WHEN)
        client.append("Éléments envoyés", _raw(3), flags=[b"\\Seen"], msg_time=WHEN)
        client.append("INBOX/Archivés", _raw(4), msg_time=WHEN + dt.timedelta(days=1))
    with open_connector(_spec(dovecot), _options(dovecot, login)) as source:
        over_imap = sorted(source.read_mail(), key=lambda r: (r.kind, r.key))
    home = dovecot.maildir(login).parent
    with open_connector(f"maildir:{home}") as maildir:
        on_disk = sorted(maildir.read_mail(), key=lambda r: (r.kind, r.key))
    assert len(on_disk) == 3 + 4, "three folders and four messages"
    strip = [(r.kind, r.key.partition("|")[2], _without_owner(r)) for r in on_disk]
    assert strip == [(r.kind, r.key.partition("|")[2], _without_owner(r)) for r in over_imap]


def _without_owner(record: Mailbox | Message) -> dict[str, Any]:
    data = record.to_dict()
    data.pop("owner_id")
    return data


def test_location_and_options_are_checked(tmp_path: Path) -> None:
    from ent_migrate.errors import ConfigError

    with pytest.raises(ConfigError, match="port must be a number"):
        open_connector("imap://host:abc", {"password": "x"})
    with pytest.raises(ConfigError, match="auth"):
        open_connector("imap://host:993", {"password": "x", "auth": "cleartext"})
    with pytest.raises(ConfigError, match="several users need master_user"):
        open_connector("imap://host:993", {"password": "x", "users": {"a": "a", "b": "b"}})
