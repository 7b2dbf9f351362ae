"""The ``mbox`` connector: the four variants read from hand-written files, byte-faithful mboxrd writes
(a property), Status/X-Status flags, a torn append cut back, a bad Content-Length reported."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.contract import Action, Operation, Role
from ent_migrate.errors import ConfigError
from ent_migrate.mail import sha256_hex, wire_form
from ent_migrate.model import Message
from ent_migrate.registry import open_connector

MSG_A = b"Message-ID: <a@x>\nSubject: a\n\nline one\nFrom here on\n>From quoted once\n"
MSG_B = b"Message-ID: <b@x>\nStatus: RO\nX-Status: AF\nX-Keywords: Projet $Label1\nSubject: b\n\nbody b\n"


def _folder(tmp_path: Path, data: bytes, owner: str = "u1", name: str = "INBOX") -> Path:
    path = tmp_path / owner / f"{name}.mbox"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return tmp_path


def _messages(root: Path, variant: str) -> list[tuple[Message, bytes]]:
    with open_connector(f"mbox:{root}", {"variant": variant}) as source:
        out = []
        for record in source.read_mail():
            if isinstance(record, Message):
                out.append((record, source.open_blob(record).read()))
        assert not source.problems.to_list()
        return out


def _from(date: str = "Tue Mar 10 07:15:00 2026") -> bytes:
    return b"From sender@example.org " + date.encode() + b"\n"


def test_mboxrd_and_mboxo_unquote_from_lines(tmp_path: Path) -> None:
    rd = _folder(
        tmp_path / "rd",
        _from()
        + MSG_A.replace(b"\nFrom here", b"\n>From here").replace(b">From quoted", b">>From quoted")
        + b"\n"
        + _from()
        + MSG_B
        + b"\n",
    )
    got = _messages(rd, "mboxrd")
    assert [blob for _, blob in got] == [wire_form(MSG_A), wire_form(MSG_B)]
    assert got[0][0].date == dt.datetime(2026, 3, 10, 7, 15, tzinfo=dt.UTC)
    assert got[0][0].flags == ()
    o = _folder(tmp_path / "o", _from() + b"Subject: o\n\n>From a quoted line\n\n")
    assert _messages(o, "mboxo")[0][1] == wire_form(b"Subject: o\n\nFrom a quoted line\n")


def test_status_headers_give_flags_on_a_source(tmp_path: Path) -> None:
    """A hand-back's Status/X-Status/X-Keywords are read (a target never writes them: see the module)."""
    root = _folder(tmp_path, _from() + MSG_B + b"\n")
    with open_connector(f"mbox:{root}", {}, role=Role.SOURCE) as source:
        (record,) = [r for r in source.read_mail() if isinstance(r, Message)]
    assert record.flags == ("\\Seen", "\\Answered", "\\Flagged", "$Label1", "Projet")


def test_mboxcl_and_mboxcl2_trust_content_length(tmp_path: Path) -> None:
    body = b"From the body, unquoted\nsecond line\n"
    head = b"Message-ID: <c@x>\nContent-Length: " + str(len(body)).encode() + b"\n\n"
    cl2 = _folder(tmp_path / "cl2", _from() + head + body + b"\n" + _from() + head + body + b"\n")
    got = _messages(cl2, "mboxcl2")
    assert [blob for _, blob in got] == [wire_form(head + body)] * 2
    quoted = b">From the body, unquoted\nsecond line\n"
    head_q = b"Message-ID: <c@x>\nContent-Length: " + str(len(quoted)).encode() + b"\n\n"
    cl = _folder(tmp_path / "cl", _from() + head_q + quoted + b"\n")
    assert _messages(cl, "mboxcl")[0][1] == wire_form(head_q + body)


def test_a_wrong_content_length_is_reported(tmp_path: Path) -> None:
    root = _folder(tmp_path, _from() + b"Content-Length: 9999\n\nshort\n")
    with open_connector(f"mbox:{root}", {"variant": "mboxcl2"}) as source:
        list(source.read_mail())
        problems = source.problems.to_list()
    assert [p["code"] for p in problems] == ["mail.malformed"]
    assert problems[0]["examples"] == [f"owner {sha256_hex(b'u1')[:12]}/INBOX.mbox:1"]


def test_a_target_is_always_mboxrd(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="always written as mboxrd"):
        open_connector(f"mbox:{tmp_path}", {"variant": "mboxcl2"}, role=Role.TARGET)


def _write(root: Path, raw: bytes, key: str | None = None) -> Message:
    record = Message(
        owner_id="u1",
        mailbox="INBOX",
        message_id=key or f"<{uuid.uuid4().hex}@x>",
        sha256=sha256_hex(raw),
        size=len(raw),
        date=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    with open_connector(f"mbox:{root}", {"durable": False}) as target:
        target.write(Operation(uuid.uuid4().hex, Action.CREATE, record.kind, record.key, record), io.BytesIO(raw))
    return record


_LINES = st.lists(st.sampled_from([b"", b"From x", b">From y", b">>From z", b"From", b"text", b" From"]), max_size=8)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=4), st.booleans())
def test_writes_are_byte_faithful(tmp_path: Path, bodies: list[list[bytes]], final_newline: bool) -> None:
    root = tmp_path / uuid.uuid4().hex
    wanted = []
    for i, lines in enumerate(bodies):
        raw = b"\r\n".join([f"Message-ID: <p{i}@x>".encode(), b"", *lines]) + (b"\r\n" if final_newline else b"")
        _write(root, raw, key=f"<p{i}@x>")
        wanted.append(raw)
    got = [blob for _, blob in _messages(root, "mboxrd")]
    assert sorted(got) == sorted(wanted)


def test_a_torn_append_is_cut_back(tmp_path: Path) -> None:
    _write(tmp_path, b"Message-ID: <one@x>\r\n\r\nfirst\r\n", key="<one@x>")
    path = tmp_path / "u1" / "INBOX.mbox"
    size = path.stat().st_size
    # What a kill in the middle of the next append leaves: its marker and half a message.
    path.with_name("INBOX.mbox.ent-migrate-append").write_text(str(size))
    with path.open("ab") as fh:
        fh.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nMessage-ID: <two@x>\n\nhal")
    _write(tmp_path, b"Message-ID: <two@x>\r\n\r\nsecond\r\n", key="<two@x>")
    got = [blob for _, blob in _messages(tmp_path, "mboxrd")]
    assert got == [b"Message-ID: <one@x>\r\n\r\nfirst\r\n", b"Message-ID: <two@x>\r\n\r\nsecond\r\n"]
