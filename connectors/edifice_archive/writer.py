"""Edifice user archives written from a generated district (``fixtures generate --format edifice-archive``).

:func:`write_edifice_archives` writes one zip per person who owns a document or a message (and, with
``everyone``, per person of the district): the workspace (a JSON file per document and folder, the bytes under
``Documents/<name>_<docId>.<ext>``), and one of each production — a blog with two posts (the second
shows an image of the user's workspace by ``/workspace/document/<uuid>``), a wiki page, a pad with its
Etherpad history, a mind map, a timeline, a wall and a calendar event. Ids are uuid5 of the person
and a counter: the same district always gives the same archives.

Known losses (:class:`Losses`) are injected into the first ``Losses.users`` archives (by owner id),
the ones an audit must find: a module declared in ``Manifest.json`` whose folder is empty, a blog
post image pointing at a workspace document whose file is absent, an entry changed after signing,
and (in the first ``users`` archives that hold messages) a message linked to an attachment whose bytes
are absent.

Each owner's messages go in ``Messagerie/`` as the conversation tables (:mod:`.writer_mail`). What the
archive says of the person is what entcore's export says: the user id (in ``<exportId>``) and their
display name (``ownerName`` of each workspace document, the user's own ``displayNames`` entry in the
messages); never a profile, a birth date or an e-mail.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ent_migrate.connectors.edifice_archive.layout import MANIFEST, MODULES, SIGNATURE, entry_digest
from ent_migrate.connectors.edifice_archive.writer_mail import conversation_files
from ent_migrate.model import Document, Mailbox, Message, Person, Record

__all__ = ["Losses", "display_name", "write_edifice_archives"]

_NS = uuid.UUID("0f6a3c52-93f4-4e0b-8d0e-5c1c7a9b2e44")
_T0 = dt.datetime(2026, 9, 14, 8, 0, tzinfo=dt.UTC)
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 16


@dataclasses.dataclass(frozen=True, slots=True)
class Losses:
    """Known losses to inject (each in the first ``users`` archives, sorted by owner id)."""

    empty_module: str | None = None  # canonical module kept in Manifest.json with an empty folder
    missing_file: bool = False  # a blog image -> /workspace/document/<uuid> whose file is not in the archive
    tampered: str | None = None  # canonical module whose folder is changed after the signature was made
    missing_attachment: bool = False  # a message linked to an attachment whose bytes are not in the archive
    dangling_share: bool = False  # a document shared with a user the hand-back does not hold
    users: int = 1


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "|".join(parts)))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode()


def _split(path: str) -> tuple[str, str]:
    name = path.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return (stem, ext) if dot and stem else (name, "")


def display_name(person: Person | None) -> str:
    """The name entcore displays (and exports) for a person: first name then last name."""
    return f"{person.first_name} {person.last_name}".strip() if person else ""


def _workspace(
    owner: str, display: str, docs: list[tuple[Document, bytes]], shared: list[dict[str, Any]] | None = None
) -> tuple[dict[str, bytes], list[str]]:
    """Files of the workspace folder, and the ids of its file documents (for the productions).
    *shared*: the entcore ``shared`` list every file document gets (principal id + rights keys)."""
    out: dict[str, bytes] = {}
    folders: dict[str, str] = {}  # "a/b" -> folder id
    ids = []
    for doc, data in docs:
        parts = doc.path.split("/")
        parent = None
        for depth in range(1, len(parts)):
            sub = "/".join(parts[:depth])
            if sub not in folders:
                folders[sub] = _uid(owner, "folder", sub)
                out[f"{folders[sub]}.json"] = _json(
                    {"_id": folders[sub], "eType": "folder", "name": parts[depth - 1], "owner": owner,
                     "ownerName": display, "eParent": parent, "created": _iso(_T0), "modified": _iso(_T0), "shared": []}
                )  # fmt: skip
            parent = folders[sub]
        doc_id = _uid(owner, "doc", doc.path)
        ids.append(doc_id)
        stem, ext = _split(doc.path)
        stored = f"Documents/{stem}_{doc_id}{'.' + ext if ext else ''}"
        entry: dict[str, Any] = {
            "_id": doc_id, "eType": "file", "name": parts[-1], "owner": owner, "ownerName": display, "eParent": parent,
            "file": stored, "shared": list(shared or []),
            "metadata": {"size": doc.size, "content-type": doc.media_type, "filename": parts[-1]},
        }  # fmt: skip
        if doc.modified is not None:  # absent rather than invented: the reader gives None back
            entry["created"] = entry["modified"] = _iso(doc.modified)
        out[f"{doc_id}.json"] = _json(entry)
        out[stored] = data
    return out, ids


def _productions(owner: str, image: str | None) -> dict[str, dict[str, bytes]]:
    """module -> files of its folder, one item each (two posts for the blog)."""
    img = f'<p><img src="/workspace/document/{image}"></p>' if image else ""
    blog = _uid(owner, "blog")
    when = _iso(_T0)
    return {
        "blog": {
            f"{blog}.json": _json({"_id": blog, "title": "Carnet de bord", "author": {"userId": owner},
                                    "created": {"$date": when}, "modified": {"$date": when}}),
            f"Posts/{_uid(owner, 'post', '1')}.json": _json(
                {"_id": _uid(owner, "post", "1"), "blog": {"$id": blog}, "title": "Rentrée",
                 "content": "<p>Premier billet.</p><script>alert(1)</script>", "state": "PUBLISHED",
                 "created": {"$date": when}}),
            f"Posts/{_uid(owner, 'post', '2')}.json": _json(
                {"_id": _uid(owner, "post", "2"), "blog": {"$id": blog}, "title": "Sortie",
                 "content": f"<p>La sortie.</p>{img}", "state": "PUBLISHED", "created": {"$date": when}}),
        },
        "wiki": {f"{_uid(owner, 'wiki')}.json": _json(
            {"_id": _uid(owner, "wiki"), "title": "Wiki de la classe", "owner": {"userId": owner},
             "pages": [{"_id": _uid(owner, "page"), "title": "Accueil", "content": f"<h1>Bienvenue</h1>{img}"}]})},
        "pad": {f"{_uid(owner, 'pad')}.json": _json(
            {"_id": _uid(owner, "pad"), "name": "Notes de cours", "owner": {"userId": owner},
             "html": "<p>Notes <b>partagées</b></p>", "text": "Notes partagées",
             "revisions": [{"rev": 0, "changeset": "Z:1>f*0+f$Notes partagées", "author": owner,
                            "timestamp": 1_789_372_800_000}]})},
        "mindmap": {f"{_uid(owner, 'mindmap')}.json": _json(
            {"_id": _uid(owner, "mindmap"), "name": "Révisions", "owner": {"userId": owner},
             "map": {"title": "Révisions", "children": [{"title": "Histoire", "children": [{"title": "1914"}]},
                                                         {"title": "Maths", "children": []}]}})},
        "timeline": {f"{_uid(owner, 'timeline')}.json": _json(
            {"_id": _uid(owner, "timeline"), "headline": "Le XXe siècle", "owner": {"userId": owner},
             "events": [{"headline": "Armistice", "startDate": "1918-11-11", "text": "<p>Fin</p>"},
                        {"headline": "Traité", "startDate": "1919-06-28", "endDate": "1919-06-28"}]})},
        "wall": {f"{_uid(owner, 'wall')}.json": _json(
            {"_id": _uid(owner, "wall"), "name": "Idées", "owner": {"userId": owner},
             "notes": [{"content": "<p>Une idée</p>", "x": 10, "y": 20}]})},
        "calendar": {f"{_uid(owner, 'calendar')}.json": _json(
            {"_id": _uid(owner, "calendar"), "title": "Agenda de classe", "owner": {"userId": owner},
             "events": [{"_id": _uid(owner, "event"), "title": "Conseil de classe",
                         "startMoment": "2026-12-10T17:00:00.000Z", "endMoment": "2026-12-10T19:00:00.000Z",
                         "location": "Salle 12"}]})},
    }  # fmt: skip


def _sign(key: rsa.RSAPrivateKey | None, entries: dict[str, dict[str, bytes]], manifest: bytes) -> bytes | None:
    """``archive.signature`` as entcore's ``signExport`` writes it (compact JSON); None without a key,
    as entcore then writes no signature file."""
    if key is None:
        return None
    export = {MANIFEST: manifest, **{f"{f}/{rel}": data for f, files in entries.items() for rel, data in files.items()}}
    digests = {MANIFEST: entry_digest(MANIFEST, export.__getitem__, folder=False)}
    for folder, files in entries.items():
        digests[folder] = entry_digest(folder, export.__getitem__, files, folder=True)
    signatures: dict[str, str] = {}
    for entry, digest in digests.items():
        sig = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        signatures[entry] = base64.b64encode(sig).decode()
    return json.dumps(signatures, ensure_ascii=False, separators=(",", ":")).encode()


def _load_key(path: Path | None) -> rsa.RSAPrivateKey | None:
    if path is None:
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def write_edifice_archives(
    items: Iterable[tuple[Record, bytes | None]],
    out: Path,
    *,
    losses: Losses | None = None,
    private_key: Path | None = None,
    everyone: bool = False,
    productions: bool = True,
) -> list[Path]:
    """Write ``<out>/<ownerId>.zip`` per user; returns the zips, sorted by owner id.

    *private_key* (an RSA PEM, unencrypted) signs every archive as entcore's ``archive.signature``;
    without it there is no signature file (entries unsigned), as entcore does without a key.
    *productions* False writes the workspace and the messages alone (the conformance kit compares what
    is read with the district).
    """
    losses = losses or Losses()
    key = _load_key(private_key)
    people: dict[str, Person] = {}
    docs: dict[str, list[tuple[Document, bytes]]] = {}
    mail: dict[str, list[tuple[Mailbox | Message, bytes]]] = {}
    for record, blob in items:
        if isinstance(record, Person):
            people[record.id] = record
        elif isinstance(record, Document):
            docs.setdefault(record.owner_id, []).append((record, blob or b""))
        elif isinstance(record, Mailbox | Message):
            mail.setdefault(record.owner_id, []).append((record, blob or b""))
    owners = sorted(set(people) | set(docs) | set(mail)) if everyone else sorted(set(docs) | set(mail))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    attachment_hits = 0
    for index, owner in enumerate(owners):
        hit = index < losses.users
        display = display_name(people.get(owner))
        # every document shared read-only with the next owner (a user the hand-back holds), as
        # entcore writes a share: the principal's id and one key per right
        right = {"org-entcore-workspace-controllers-WorkspaceController|getDocument": True}
        neighbour = owners[(index + 1) % len(owners)]
        shared = [{"userId": neighbour, **right}] if neighbour != owner else []
        if hit and losses.dangling_share:
            shared.append({"userId": _uid(owner, "gone-user"), **right})
        files, ids = _workspace(owner, display, sorted(docs.get(owner, []), key=lambda d: d[0].path), shared)
        image = ids[0] if ids else None
        if hit and losses.missing_file:
            image = _uid(owner, "lost-image")
            files[f"{image}.json"] = _json(
                {"_id": image, "eType": "file", "name": "photo.png", "owner": owner, "eParent": None,
                 "file": f"Documents/photo_{image}.png", "created": _iso(_T0), "modified": _iso(_T0),
                 "shared": [], "metadata": {"size": len(_PNG), "content-type": "image/png", "filename": "photo.png"}}
            )  # fmt: skip
        # an app with nothing to export is left out of the manifest (declared and empty is a loss: R16)
        modules = {**({"workspace": files} if files else {}), **(_productions(owner, image) if productions else {})}
        lose = losses.missing_attachment and attachment_hits < losses.users
        messaging = conversation_files(owner, display, mail.get(owner, []), _uid, lost_attachment=lose)
        if messaging:
            modules["conversation"] = messaging
            attachment_hits += lose
        if hit and losses.empty_module:
            modules[losses.empty_module] = {}
        entries = {MODULES[m][1]: f for m, f in modules.items()}
        manifest = _json({MODULES[m][0]: {"version": "2.0", "folder": MODULES[m][1]} for m in modules})
        signature = _sign(key, entries, manifest)
        if hit and losses.tampered:
            changed = entries[MODULES[losses.tampered][1]]
            name = "Posts/ajout.json" if losses.tampered == "blog" else "ajout.json"  # not a new blog
            changed[name] = _json({"_id": _uid(owner, "tampered")})
        root = f"{int(_T0.timestamp() * 1000)}_{owner}"
        path = out / f"{owner}.zip"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{root}/{MANIFEST}", manifest)
            if signature is not None:
                archive.writestr(f"{root}/{SIGNATURE}", signature)
            for folder, content in entries.items():
                archive.writestr(zipfile.ZipInfo(f"{root}/{folder}/"), b"")
                for name in sorted(content):
                    archive.writestr(f"{root}/{folder}/{name}", content[name])
        path.write_bytes(buffer.getvalue())
        written.append(path)
    return written
