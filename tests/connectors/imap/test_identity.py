"""The message identity every mail connector shares (ent_migrate/mail.py): content id, keys, flags,
wire form, folder roles and modified UTF-7."""

from __future__ import annotations

import random
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.mail import (
    canonical_folder,
    content_id,
    facts,
    folder_keys,
    local_form,
    message_id_header,
    mutf7_decode,
    mutf7_encode,
    normalise_flags,
    occurrence,
    parts_id,
    role_for_name,
    wire_form,
)

BASE = (
    b"Message-ID: <a1@example.org>\r\n"
    b"Date: Tue, 10 Mar 2026 08:15:00 +0100\r\n"
    b"From: =?utf-8?q?H=C3=A9l=C3=A8ne?= <Helene@Example.org>\r\n"
    b"To: b@example.org, A@example.org\r\n"
    b"Subject: =?utf-8?q?R=C3=A9union?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Bonjour,\r\nla r\xc3\xa9union est \xc3\xa0 18 h.\r\n"
)


def test_transport_changes_keep_the_content_id() -> None:
    cid = content_id(BASE)
    relayed = b"Received: from mx by mx2; Tue, 10 Mar 2026 08:15:03 +0100\r\nReturn-Path: <x@y>\r\n" + BASE
    mbox_headers = b"Status: RO\r\nX-Status: A\r\nX-UID: 7\r\nContent-Length: 40\r\n"
    stored = BASE.replace(b"Content-Type", mbox_headers + b"Content-Type")
    assert content_id(relayed) == cid
    assert content_id(stored) == cid
    assert content_id(local_form(BASE)) == cid, "LF storage must not change identity"
    assert content_id(BASE.replace(b"18 h.\r\n", b"18 h.   \r\n\r\n")) == cid, "trailing whitespace is cut"
    # The same date in another zone, addresses in another order and case, the subject raw instead of encoded.
    same = (
        BASE.replace(b"08:15:00 +0100", b"07:15:00 +0000")
        .replace(b"b@example.org, A@example.org", b"a@EXAMPLE.org, b@example.org")
        .replace(b"=?utf-8?q?R=C3=A9union?=", "Réunion".encode())
    )
    assert content_id(same) == cid


def test_content_changes_change_the_content_id() -> None:
    cid = content_id(BASE)
    for old, new in (
        (b"Bonjour", b"Bonsoir"),
        (b"<a1@", b"<a2@"),
        (b"R=C3=A9union", b"R=C3=A9unions"),
        (b"b@example.org,", b"c@example.org,"),
        (b"08:15:00", b"08:16:00"),
    ):
        assert content_id(BASE.replace(old, new)) != cid, f"{old!r} -> {new!r} kept the content id"


def test_the_part_fallback_sees_through_a_re_encoding() -> None:
    qp = BASE.replace(b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: quoted-printable").replace(
        b"r\xc3\xa9union est \xc3\xa0", b"r=C3=A9union est =C3=A0"
    )
    assert content_id(qp) != content_id(BASE)
    assert parts_id(qp) == parts_id(BASE)
    assert parts_id(BASE.replace(b"Bonjour", b"Bonsoir")) != parts_id(BASE)


def test_wire_form_is_crlf_and_local_form_its_inverse() -> None:
    assert wire_form(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"
    assert wire_form(BASE) == BASE
    assert local_form(wire_form(b"a\nb\n")) == b"a\nb\n"


@given(st.binary(max_size=300))
def test_wire_form_is_idempotent(data: bytes) -> None:
    once = wire_form(data)
    assert wire_form(once) == once
    assert b"\n" not in once.replace(b"\r\n", b"")


def test_keys_use_message_id_content_or_both() -> None:
    no_id = BASE.replace(b"Message-ID: <a1@example.org>\r\n", b"")
    other = BASE.replace(b"Bonjour", b"Salut")
    items = [facts(BASE), facts(BASE), facts(no_id), facts(other), facts(no_id)]
    keys = folder_keys(items)
    assert message_id_header(BASE) == "<a1@example.org>"
    assert keys[2] == f"cid:{content_id(no_id)}"
    assert keys[4] == f"cid:{content_id(no_id)}#2"
    # Two different messages share <a1@...>: each is told apart by its content.
    assert keys[0].startswith("<a1@example.org>#cid=")
    assert keys[1] == keys[0] + "#2"
    assert keys[3].startswith("<a1@example.org>#cid=")
    assert keys[3] != keys[0]
    assert len(set(keys)) == len(keys)
    assert [occurrence(k) for k in keys] == [1, 2, 1, 1, 2]
    assert folder_keys([facts(BASE)]) == ["<a1@example.org>"]


@given(st.lists(st.sampled_from(range(6)), min_size=1, max_size=12), st.randoms())
def test_keys_depend_on_contents_not_on_order(picks: list[int], rnd: random.Random) -> None:
    variants = [
        facts(
            BASE.replace(b"Bonjour", f"Bonjour {i}".encode())
            if i % 2
            else BASE.replace(b"Message-ID: <a1@example.org>\r\n", b"").replace(b"Bonjour", f"Hi {i}".encode())
        )
        for i in range(6)
    ]
    messages = [variants[i] for i in picks]
    shuffled = list(messages)
    rnd.shuffle(shuffled)
    pairs = sorted(zip([m.content_id for m in messages], folder_keys(messages), strict=True))
    again = sorted(zip([m.content_id for m in shuffled], folder_keys(shuffled), strict=True))
    assert pairs == again


def test_flags_are_normalised() -> None:
    assert normalise_flags([b"\\Flagged", "\\seen", "\\Recent", "$Label1", "$label1", "Urgent", "\\Foo"]) == (
        "\\Seen",
        "\\Flagged",
        "$Label1",
        "Urgent",
    )
    assert normalise_flags(normalise_flags(["\\Draft", "\\Deleted", "\\Answered"])) == (
        "\\Answered",
        "\\Deleted",
        "\\Draft",
    )


def test_folders_are_named_by_role() -> None:
    assert canonical_folder("Éléments envoyés", "\\Sent") == "Sent"
    assert canonical_folder("Corbeille", "\\trash") == "Trash"
    assert canonical_folder("inbox/Archives", None) == "INBOX/Archives"
    assert canonical_folder("Projets/2026", None) == "Projets/2026"
    assert role_for_name("ÉLÉMENTS ENVOYÉS") == "\\Sent"
    assert role_for_name("Brouillons") == "\\Drafts"
    assert role_for_name("Projets") is None


def test_modified_utf7_known_values() -> None:
    assert mutf7_encode("INBOX/Archivés") == "INBOX/Archiv&AOk-s"
    assert mutf7_encode("R&D") == "R&-D"
    assert mutf7_encode("日本語") == "&ZeVnLIqe-"
    assert mutf7_decode("&ZeVnLIqe-") == "日本語"
    assert mutf7_decode("Archiv&AOk-s") == "Archivés"


@given(st.text(max_size=40))
def test_modified_utf7_round_trips(name: str) -> None:
    encoded = mutf7_encode(name)
    assert encoded.isascii()
    assert mutf7_decode(encoded) == unicodedata.normalize("NFC", name)
