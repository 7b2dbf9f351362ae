"""The ``edifice-archive`` reader over archives its fixture writer made: records, each injected loss
found by the hand-back inventory, the vendor's signatures, and hostile zips refused with the file named."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import io
import zipfile
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.audit.evidence import HandbackInventory, HandbackSource, ModuleInventory, SignatureStatus
from ent_migrate.connectors.edifice_archive.writer import Losses, write_edifice_archives
from ent_migrate.errors import ConfigError, TerminalError
from ent_migrate.kit.harness import apply, operations
from ent_migrate.model import Document, Mailbox, Message, Person, Production, Profile, Record
from ent_migrate.registry import open_connector
from tests.connectors.edifice_archive.keys import write_rsa_pair


def _district() -> list[tuple[Record, bytes | None]]:
    items: list[tuple[Record, bytes | None]] = []
    for owner in ("user-a", "user-b"):
        for path, media in (("notes.txt", "text/plain"), ("Cours/2026/photo.png", "image/png")):
            data = f"{owner}:{path}".encode()
            doc = Document(
                owner_id=owner,
                path=path,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                media_type=media,
                modified=dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC),
            )
            items.append((doc, data))
    return items


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    _, private, public = write_rsa_pair(folder, "vendor")
    _, _, other = write_rsa_pair(folder, "other")
    return private, public, other  # vendor private, vendor public, another vendor's public


def _inventories(location: Path, options: dict[str, object] | None = None) -> dict[str | None, HandbackInventory]:
    with open_connector(f"edifice-archive:{location}", options or {}) as source:
        assert isinstance(source, HandbackSource)
        return {inv.owner_id: inv for inv in source.handback_inventory()}


def _module(inv: HandbackInventory, name: str) -> ModuleInventory:
    return next(m for m in inv.modules if m.module == name)


def test_reads_documents_and_productions_with_their_bytes(tmp_path: Path) -> None:
    write_edifice_archives(_district(), tmp_path)
    with open_connector(f"edifice-archive:{tmp_path}") as source:
        records = list(source.read_documents())
        docs = {r.key: r for r in records if isinstance(r, Document)}
        assert set(docs) == {f"{o}|{p}" for o in ("user-a", "user-b") for p in ("notes.txt", "Cours/2026/photo.png")}
        assert docs["user-a|Cours/2026/photo.png"].media_type == "image/png"
        apps = sorted({r.app for r in records if isinstance(r, Production) and r.owner_id == "user-a"})
        assert apps == ["blog", "calendar", "mindmap", "pad", "timeline", "wall", "wiki"]
        for record in records:
            assert isinstance(record, Document | Production)
            data = source.open_blob(record).read()
            assert hashlib.sha256(data).hexdigest() == record.sha256
            assert len(data) == record.size
        blog = next(r for r in records if isinstance(r, Production) and r.app == "blog" and r.owner_id == "user-a")
        page = source.open_blob(blog).read().decode()
        assert "<script" not in page
        assert "/workspace/document/" not in page
        assert "data:image/png;base64," in page  # the image bundled inside the page
        assert len(source.problems) == 0


def test_a_zip_of_user_zips_reads_as_the_folder(tmp_path: Path) -> None:
    zips = write_edifice_archives(_district(), tmp_path / "set")
    outer = tmp_path / "handback.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        for path in zips:
            archive.write(path, f"exports/{path.name}")
    assert set(_inventories(outer)) == {"user-a", "user-b"}
    assert _inventories(outer)["user-a"].inputs[0].path == "exports/user-a.zip"


def test_empty_module_declared_but_absent(tmp_path: Path) -> None:
    write_edifice_archives(_district(), tmp_path, losses=Losses(empty_module="wiki"))
    inv = _inventories(tmp_path)
    wiki = _module(inv["user-a"], "wiki")
    assert (wiki.declared, wiki.present, wiki.items) == (True, False, 0)
    assert _module(inv["user-b"], "wiki").present  # losses hit the first user only


def test_missing_workspace_file_is_listed_and_reported(tmp_path: Path) -> None:
    write_edifice_archives(_district(), tmp_path, losses=Losses(missing_file=True))
    with open_connector(f"edifice-archive:{tmp_path}") as source:
        assert isinstance(source, HandbackSource)
        inv = {i.owner_id: i for i in source.handback_inventory()}
        lost = _module(inv["user-a"], "blog").missing
        assert len(lost) == 1
        assert _module(inv["user-a"], "workspace").missing == lost
        assert _module(inv["user-a"], "wiki").missing == lost
        assert source.problems.count("ref.dangling") == 3  # the document, the blog post, the wiki page
        assert not _module(inv["user-b"], "blog").missing


def test_signatures_valid_tampered_wrong_key_and_no_key(tmp_path: Path, keys: tuple[Path, Path, Path]) -> None:
    private, public, other = keys
    write_edifice_archives(_district(), tmp_path, losses=Losses(tampered="pad"), private_key=private)
    inv = _inventories(tmp_path, {"public_key": str(public)})
    status_a = {s.entry: s.status for s in inv["user-a"].signatures}
    assert status_a["Pad"] is SignatureStatus.INVALID
    assert {s for e, s in status_a.items() if e != "Pad"} == {SignatureStatus.VALID}
    assert {s.status for s in inv["user-b"].signatures} == {SignatureStatus.VALID}
    assert "Manifest.json" in status_a
    wrong = _inventories(tmp_path, {"public_key": str(other)})
    assert {s.status for s in wrong["user-b"].signatures} == {SignatureStatus.INVALID}
    unkeyed = _inventories(tmp_path)
    assert {s.status for s in unkeyed["user-b"].signatures} == {SignatureStatus.NO_KEY}


def test_unsigned_archive(tmp_path: Path, keys: tuple[Path, Path, Path]) -> None:
    write_edifice_archives(_district(), tmp_path)
    inv = _inventories(tmp_path, {"public_key": str(keys[1])})
    assert {s.status for s in inv["user-a"].signatures} == {SignatureStatus.UNSIGNED}


def _hostile(tmp_path: Path, name: str, data: bytes) -> Path:
    (path,) = write_edifice_archives(_district()[:2], tmp_path / "set")
    buffer = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def test_zip_slip_member_refused_and_named(tmp_path: Path) -> None:
    path = _hostile(tmp_path, "../../evil.json", b"{}")
    with open_connector(f"edifice-archive:{path.parent}") as source:
        list(source.read_documents())  # lenient: the member is refused, the rest of the archive is read
        found = [p for p in source.problems if p.code == "archive.unsafe-member"]
        assert found
        assert any(e.startswith(path.name) and "evil.json" in e for e in found[0].examples)
    assert not (tmp_path / "evil.json").exists()


def test_oversize_member_refused_and_named(tmp_path: Path) -> None:
    (path,) = write_edifice_archives(_district()[:2], tmp_path)
    with open_connector(f"edifice-archive:{tmp_path}", {"max_member_size": 64}) as source:
        list(source.read_documents())
        found = [p for p in source.problems if p.code == "archive.unsafe-member"]
        assert found
        assert all(e.startswith(path.name) for e in found[0].examples)


def test_productions_land_in_a_package_hashed(tmp_path: Path) -> None:
    """edifice-archive -> package: every production's open-format bytes are stored and hashed."""
    write_edifice_archives(_district(), tmp_path / "in")
    with open_connector(f"edifice-archive:{tmp_path / 'in'}") as source:
        records = list(source.read_documents())
        blobs = {r.sha256: source.open_blob(r).read() for r in records if isinstance(r, Document | Production)}
    with open_connector(f"package:{tmp_path / 'out'}", {"durable": False}) as target:
        apply(target, operations(records), blobs)
    with open_connector(f"package:{tmp_path / 'out'}") as back:
        read = {r.key: r for r in back.read_documents()}
        for record in records:
            assert read[record.key].sha256 == record.sha256
            assert hashlib.sha256(back.open_blob(read[record.key]).read()).hexdigest() == record.sha256


def test_an_app_not_converted_is_inventoried_by_its_files(tmp_path: Path) -> None:
    path = _hostile(tmp_path, "1789372800000_user-a/Exercices/exercice.json", b'{"_id": "e1"}')
    inv = _inventories(path.parent)["user-a"]
    exercises = _module(inv, "Exercices")
    assert (exercises.declared, exercises.present, exercises.items) == (False, True, 1)


def _mail(owner: str, mailbox: str, subject: str, *, attachment: bytes | None = None) -> tuple[Message, bytes]:
    mail = EmailMessage()
    mail["From"] = "Camille Martin <camille@example.org>" if mailbox == "INBOX" else f"{owner}@example.org"
    mail["To"] = f"{owner}@example.org"
    mail["Subject"] = subject
    mail["Date"] = "Tue, 15 Sep 2026 08:00:00 +0000"
    mail["Message-ID"] = f"<{owner}.{mailbox.replace('/', '.')}.{len(subject)}@example.org>"
    mail.set_content("Bonjour,\nà demain.\n")
    if attachment is not None:
        mail.add_attachment(attachment, maintype="application", subtype="pdf", filename="sortie.pdf")
    data = mail.as_bytes()
    record = Message(
        owner_id=owner,
        mailbox=mailbox,
        message_id=str(mail["Message-ID"]),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        flags=("\\Seen",),
        date=dt.datetime(2026, 9, 15, 8, tzinfo=dt.UTC),
    )
    return record, data


def _district_with_mail() -> list[tuple[Record, bytes | None]]:
    items = _district()
    for owner, first, last in (("user-a", "Léa", "Dubois"), ("user-b", "Hugo", "Petit")):
        items.append((Person(id=owner, profile=Profile.TEACHER, last_name=last, first_name=first), None))
        items.append(_mail(owner, "INBOX", "Sortie", attachment=b"%PDF-1.4 sortie"))
        items.append(_mail(owner, "Sent", "Réponse"))
        items.append(_mail(owner, "Classe/2026", "Rangé"))
    return items


def test_the_owner_is_a_person_with_what_the_archive_says(tmp_path: Path) -> None:
    write_edifice_archives(_district_with_mail(), tmp_path)
    options = {"profile": "student", "profiles": {"user-b": "teacher"}}
    with open_connector(f"edifice-archive:{tmp_path}", options) as src:
        people = {p.id: p for p in src.read_accounts() if isinstance(p, Person)}
        assert people["user-a"] == Person(id="user-a", profile=Profile.STUDENT, last_name="Léa Dubois", first_name="")
        assert people["user-b"].profile is Profile.TEACHER
        assert not any("profile" in n for n in src.notices())
    with open_connector(f"edifice-archive:{tmp_path}") as unprofiled:
        assert list(unprofiled.read_accounts()) == []  # entcore's export carries no profile: none invented
        assert any("no profile configured" in n for n in unprofiled.notices())


def test_a_bad_profile_option_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile"):
        open_connector(f"edifice-archive:{tmp_path}", {"profile": "pupil"})


def test_messages_are_built_from_the_messagerie_tables(tmp_path: Path) -> None:
    write_edifice_archives(_district_with_mail(), tmp_path)
    with open_connector(f"edifice-archive:{tmp_path}") as source:
        records = list(source.read_mail())
        boxes = {r.key for r in records if isinstance(r, Mailbox)}
        assert {"user-a|INBOX", "user-a|Sent", "user-a|Classe/2026", "user-b|INBOX"} <= boxes
        messages = {(r.owner_id, r.mailbox): r for r in records if isinstance(r, Message)}
        assert set(messages) == {(o, m) for o in ("user-a", "user-b") for m in ("INBOX", "Sent", "Classe/2026")}
        for record in messages.values():
            data = source.open_blob(record).read()
            assert hashlib.sha256(data).hexdigest() == record.sha256
        parsed = email.message_from_bytes(source.open_blob(messages[("user-a", "INBOX")]).read(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        assert parsed["Subject"] == "Sortie"
        assert parsed["From"].addresses[0].display_name == "Camille Martin"
        (part,) = list(parsed.iter_attachments())
        assert part.get_filename() == "sortie.pdf"
        assert part.get_content() == b"%PDF-1.4 sortie"
        assert len(source.problems) == 0
        assert isinstance(source, HandbackSource)
        inventory = {i.owner_id: i for i in source.handback_inventory()}
        conversation = _module(inventory["user-a"], "conversation")
        assert (conversation.declared, conversation.present, conversation.items, conversation.missing) == (
            True,
            True,
            3,
            (),
        )


def test_a_message_row_linked_to_an_absent_attachment_is_found(tmp_path: Path) -> None:
    write_edifice_archives(_district_with_mail(), tmp_path, losses=Losses(missing_attachment=True))
    with open_connector(f"edifice-archive:{tmp_path}") as source:
        assert isinstance(source, HandbackSource)
        inventory = {i.owner_id: i for i in source.handback_inventory()}
        (lost,) = _module(inventory["user-a"], "conversation").missing
        assert lost.startswith("user-a|")
        assert not _module(inventory["user-b"], "conversation").missing  # the first user only
        mail = [r for r in source.read_mail() if isinstance(r, Message)]
        assert len(mail) == 6  # the message is still read, without the part it lost
        assert source.problems.count("ref.dangling") == 1  # once, naming the archive, not once per read
        assert source.problems.count("mail.malformed") == 0
        (problem,) = [p for p in source.problems if p.code == "ref.dangling"]
        assert problem.examples[0].startswith("user-a.zip:Messagerie")


def test_a_malformed_messagerie_table_is_named_by_its_archive(tmp_path: Path) -> None:
    zips = write_edifice_archives(_district_with_mail(), tmp_path)
    path = next(p for p in zips if p.name == "user-a.zip")
    with zipfile.ZipFile(path) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    with zipfile.ZipFile(path, "w") as rewritten:
        for name, data in members.items():
            broken = name.endswith("/Messagerie/conversation.messages")
            rewritten.writestr(name, b'{"fields": ["id"], "results": [[1, 2]]}' if broken else data)
    with open_connector(f"edifice-archive:{tmp_path}") as source:
        mail = [r for r in source.read_mail() if isinstance(r, Message)]
        assert {m.owner_id for m in mail} == {"user-b"}  # user-a's messages are unreadable, user-b's are read
        (problem,) = [p for p in source.problems if p.code == "mail.malformed"]
        assert problem.examples == ["user-a.zip:Messagerie/conversation.messages"]


_WORDS = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=_WORDS.filter(str.strip), lines=st.lists(_WORDS, min_size=1, max_size=4))
def test_a_message_keeps_its_subject_and_text_through_the_tables(
    tmp_path_factory: pytest.TempPathFactory, subject: str, lines: list[str]
) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.org", "user-a@example.org", subject
    mail.set_content("\n".join(lines) + "\n")
    data = mail.as_bytes()
    record = Message(owner_id="user-a", mailbox="INBOX", message_id="<m@example.org>",
                     sha256=hashlib.sha256(data).hexdigest(), size=len(data))  # fmt: skip
    out = tmp_path_factory.mktemp("mail")
    write_edifice_archives([(record, data)], out)
    with open_connector(f"edifice-archive:{out}") as source:
        (built,) = [r for r in source.read_mail() if isinstance(r, Message)]
        parsed = email.message_from_bytes(source.open_blob(built).read(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert " ".join(str(parsed["Subject"]).split()) == " ".join(subject.split())
    text = parsed.get_body(("plain",))
    assert text is not None
    assert " ".join(text.get_content().split()) == " ".join(" ".join(lines).split())


def test_production_bytes_wait_on_disk_not_in_memory(tmp_path: Path) -> None:
    # an académie's blogs and pads do not fit in memory: a conversion waits in the private temp folder
    write_edifice_archives(_district(), tmp_path / "in")
    source = open_connector(f"edifice-archive:{tmp_path / 'in'}")
    try:
        productions = [r for r in source.read_documents() if isinstance(r, Production)]
        assert productions
        with source.open_blob(productions[0]) as blob:
            assert isinstance(blob, io.BufferedReader)  # a file, not bytes kept by the connector
            where = Path(blob.name)
            assert hashlib.sha256(blob.read()).hexdigest() == productions[0].sha256
        assert where.parent.parent.stat().st_mode & 0o077 == 0  # the connector's own 0700 temp folder
    finally:
        source.close()
    assert not where.exists()  # gone with close()
    with pytest.raises(TerminalError):
        source.open_blob(productions[0])  # and said so, not a FileNotFoundError
