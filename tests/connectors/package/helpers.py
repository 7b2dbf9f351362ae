"""Shared builders for the package tests: a small district, writing it, reading it back."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ent_migrate.connectors.package import PackageConnector
from ent_migrate.contract import CAPABILITY_KINDS, DATA_CAPABILITIES, Action, Operation, Role
from ent_migrate.model import (
    Document,
    Function,
    Group,
    GroupKind,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Production,
    Profile,
    Record,
    RecordKind,
    Structure,
)

CREATED_AT = "2026-06-30T12:00:00Z"
Item = tuple[Record, bytes | None]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message(owner: str, mailbox: str, message_id: str, raw: bytes) -> Item:
    return Message(owner_id=owner, mailbox=mailbox, message_id=message_id, sha256=sha(raw), size=len(raw)), raw


def document(owner: str, path: str, data: bytes) -> Item:
    return Document(owner_id=owner, path=path, sha256=sha(data), size=len(data), media_type="text/plain"), data


# A message whose body has "From " lines and 8-bit headers: what mbox would mangle, EML keeps.
RAW_MAIL = (
    b"From: =?utf-8?q?Z=C3=A9lie?= <z@example.org>\r\nSubject: Sortie \xc3\xa0 la mer\r\n"
    b"Message-ID: <m1@example.org>\r\n\r\nFrom the teacher:\r\n>From here\r\n.\r\n"
)


def district() -> list[Item]:
    """A tiny district with one of every kind, accents and a shared blob."""
    shared = b"same bytes in two documents"
    return [
        (Structure(uai="0800001A", name="École Jules-Verne", type="ECOLE ELEMENTAIRE", city="Amiens"), None),
        (
            Person(
                id="ac-amiens$p1",
                profile=Profile.STUDENT,
                last_name="N'Diaye",
                first_name="Zoé",
                birth_date=dt.date(2014, 3, 9),
                ine="123456789AB",
                structures=("0800001A",),
            ),
            None,
        ),
        (Person(id="ac-amiens$g1", profile=Profile.GUARDIAN, last_name="de La Tour", first_name="Anne"), None),
        (Person(id="ac-amiens$t1", profile=Profile.TEACHER, last_name="Martin", first_name="Luc"), None),
        (Function(person_id="ac-amiens$t1", uai="0800001A", code="ENS", discipline="L0201"), None),
        (Group(uai="0800001A", code="CM2-A", group_kind=GroupKind.CLASS, name="CM2 A", level="CM2"), None),
        (Membership(person_id="ac-amiens$p1", uai="0800001A", group_code="CM2-A"), None),
        (Guardianship(guardian_id="ac-amiens$g1", student_id="ac-amiens$p1", legal_level=1, kinship="10"), None),
        (Mailbox(owner_id="ac-amiens$t1", name="INBOX/Sorties"), None),
        message("ac-amiens$t1", "INBOX/Sorties", "<m1@example.org>", RAW_MAIL),
        document("ac-amiens$p1", "Mes documents/rédaction.txt", shared),
        document("ac-amiens$t1", "copie.txt", shared),
        document("ac-amiens$t1", "vide.txt", b""),
        (
            Production(
                owner_id="ac-amiens$p1",
                app="pad",
                title="Poème",
                format="text/html",
                sha256=sha(b"<p>po\xc3\xa8me</p>"),
                size=len(b"<p>po\xc3\xa8me</p>"),
                source_ref="pad-1",
            ),
            b"<p>po\xc3\xa8me</p>",
        ),
    ]


def write(items: Iterable[Item], location: Path, action: Action = Action.CREATE, **options: object) -> None:
    """Write through the connector as a target, then close (compact, pack). Without fsyncs unless
    ``durable=True`` is passed: the output is the same, and the crash tests cover durability."""
    with PackageConnector(
        str(location), {"created_at": CREATED_AT, "durable": False, **options}, role=Role.TARGET
    ) as connector:
        for record, blob in items:
            connector.write(
                Operation(f"op-{record.key}", action, record.kind, record.key, record),
                io.BytesIO(blob) if blob is not None else None,
            )


def read_back(location: Path, **options: object) -> tuple[dict[tuple[RecordKind, str], str], dict[str, bytes]]:
    """(kind, key) → fingerprint, and sha256 → blob bytes, as the connector reads them as a source."""
    connector = PackageConnector(str(location), options)
    try:
        prints: dict[tuple[RecordKind, str], str] = {}
        blobs: dict[str, bytes] = {}
        for capability in DATA_CAPABILITIES:
            for record in connector.read(capability):
                assert record.kind in CAPABILITY_KINDS[capability]
                assert (record.kind, record.key) not in prints
                prints[(record.kind, record.key)] = record.fingerprint()
                if isinstance(record, Message | Document | Production):
                    with connector.open_blob(record) as stream:
                        blobs[record.sha256] = stream.read()
        return prints, blobs
    finally:
        connector.close()


def expected(items: Iterable[Item]) -> tuple[dict[tuple[RecordKind, str], str], dict[str, bytes]]:
    prints: dict[tuple[RecordKind, str], str] = {}
    blobs: dict[str, bytes] = {}
    for record, blob in items:
        prints[(record.kind, record.key)] = record.fingerprint()
        if blob is not None:
            blobs[sha(blob)] = blob
    return prints, blobs


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def many(count: int) -> list[Item]:
    """*count* people, each with a document and a message: enough writes for a kill to land mid-run."""
    items: list[Item] = [(Structure(uai="0800002B", name="Collège"), None)]
    for index in range(count):
        person_id = f"ac-amiens$s{index:04d}"
        items.append((Person(id=person_id, profile=Profile.STUDENT, last_name=f"Élève {index}", first_name="A"), None))
        items.append(document(person_id, f"doc-{index}.txt", f"document {index}\n".encode()))
        items.append((Mailbox(owner_id=person_id, name="INBOX"), None))
        raw = f"Subject: {index}\r\n\r\nHi\r\n".encode()
        items.append(message(person_id, "INBOX", f"<{index}@x>", raw))
    return items


def reseal(root: Path) -> None:
    """Recompute the manifest's sizes and hashes after a test edits files on purpose (keeps its order)."""
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for item in manifest["files"]:
        data = (root / item["path"]).read_bytes()
        item["size"], item["sha256"] = len(data), sha(data)
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def zip_folder(root: Path, out: Path, extra: Iterable[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> Path:
    """Zip a package folder as a vendor might, plus hostile *extra* entries."""
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # duplicate names are built on purpose
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
        for name, data in extra:
            archive.writestr(name, data)
    return out
