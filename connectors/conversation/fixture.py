"""Edifice conversation archives written from a generated district (``fixtures generate --format
conversation``): one archive per teacher, with the tables of a real ENT Core export.

Each teacher's archive holds: a message to each class they teach (a group recipient, HTML body), one
received from a guardian of a pupil of theirs (unread) and the teacher's reply (``parent_id``), a draft,
a trashed message, one filed in the nested folder ``Sorties/2026`` with a PDF attachment. Ids are uuid5
of the people and a counter, so the same district always gives the same archives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ent_migrate.model import Group, Guardianship, Membership, Person, Profile, Record

__all__ = ["table_json", "write_conversations"]

_NS = uuid.UUID("4b0c2a1e-8e1d-4d53-a0a5-7f7e9d2c6b31")
_T0 = 1_788_000_000_000  # ms, September 2026
_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def table_json(fields: list[str], rows: list[list[Any]]) -> str:
    """One conversation table as an ENT Core export writes it (also used by the edifice-archive writer)."""
    return json.dumps({"fields": fields, "results": rows}, ensure_ascii=False, indent=1)


def _table(path: Path, fields: list[str], rows: list[list[Any]]) -> None:
    path.write_text(table_json(fields, rows), "utf-8")


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "|".join(parts)))


def write_conversations(items: Iterable[tuple[Record, bytes | None]], out: Path) -> list[Path]:
    """Write one archive per teacher under *out*; returns the archive folders."""
    people: dict[str, Person] = {}
    groups: dict[str, Group] = {}
    taught: dict[str, list[str]] = {}
    pupils_of_group: dict[str, list[str]] = {}
    guardians_of: dict[str, list[str]] = {}
    for record, _ in items:
        if isinstance(record, Person):
            people[record.id] = record
        elif isinstance(record, Group):
            groups[record.key] = record
        elif isinstance(record, Membership):
            group = f"{record.uai}${record.group_code}"
            pupils_of_group.setdefault(group, []).append(record.person_id)
            taught.setdefault(record.person_id, []).append(group)
        elif isinstance(record, Guardianship):
            guardians_of.setdefault(record.student_id, []).append(record.guardian_id)
    written = []
    for teacher in sorted((p for p in people.values() if p.profile is Profile.TEACHER), key=lambda p: p.id):
        classes = sorted(set(taught.get(teacher.id, [])))
        guardian = next(
            (
                g
                for c in classes
                for pupil in sorted(pupils_of_group.get(c, []))
                if people.get(pupil) and people[pupil].profile is Profile.STUDENT
                for g in sorted(guardians_of.get(pupil, []))
            ),
            None,
        )
        written.append(_archive(out, teacher, classes, groups, people.get(guardian) if guardian else None))
    return written


def _archive(out: Path, teacher: Person, classes: list[str], groups: dict[str, Group], guardian: Person | None) -> Path:
    folder = out / f"{_T0}_{teacher.id}" / "Messaging"
    (folder / "Attachments").mkdir(parents=True, exist_ok=True)
    me, name = teacher.id, f"{teacher.first_name} {teacher.last_name}"
    messages: list[list[Any]] = []
    holdings: list[list[Any]] = []
    n = 0

    def message(
        sender: str,
        to: list[str],
        subject: str,
        body: str,
        *,
        state: str = "SENT",
        parent: str | None = None,
        names: list[str],
        folder_id: str | None = None,
        trashed: bool = False,
        unread: bool = False,
    ) -> str:
        nonlocal n
        n += 1
        ident = _uid(me, str(n))
        messages.append(
            [
                ident,
                parent,
                subject,
                body,
                sender,
                None,
                json.dumps(to),
                None,
                "[]",
                None,
                json.dumps(names, ensure_ascii=False),
                state,
                _T0 + n * 3_600_000,
            ]
        )
        holdings.append([me, ident, folder_id, trashed, unread, 0])
        return ident

    myself = f"{me}${name}$"
    for code in classes:
        group = groups.get(code)
        label = f"Parents {group.name if group else code}"
        gid = _uid("group", code)
        message(
            me,
            [gid],
            f"Réunion de rentrée — {label}",
            f"<p>Bonjour,</p><p>La réunion de la classe aura lieu <b>jeudi</b> à 18&nbsp;h.</p><p>{name}</p>",
            names=[myself, f"{gid}${label}${label}"],
        )
    if guardian is not None:
        gname = f"{guardian.first_name} {guardian.last_name}"
        first = message(
            guardian.id,
            [me],
            "Absence de mon enfant",
            "<p>Bonjour, mon enfant sera absent lundi.</p>",
            names=[f"{guardian.id}${gname}$", myself],
            unread=True,
        )
        message(
            me,
            [guardian.id],
            "Re: Absence de mon enfant",
            "<p>Bien noté, merci.</p>",
            parent=first,
            names=[myself, f"{guardian.id}${gname}$"],
        )
    message(me, [], "Brouillon : sortie au musée", "<p>À compléter</p>", state="DRAFT", names=[myself])
    message(me, [me], "Ancien message", "<p>À jeter</p>", trashed=True, names=[myself])
    sorties, year = _uid(me, "folder", "Sorties"), _uid(me, "folder", "2026")
    filed = message(me, [me], "Autorisation de sortie", "<p>Voir la pièce jointe.</p>", folder_id=year, names=[myself])
    attachment = _uid(me, "attachment", "1")
    (folder / "Attachments" / attachment).write_bytes(_PDF)
    _table(
        folder / "conversation.messages",
        [
            "id",
            "parent_id",
            "subject",
            "body",
            "from",
            "fromName",
            "to",
            "toName",
            "cc",
            "ccName",
            "displayNames",
            "state",
            "date",
        ],
        messages,
    )
    _table(
        folder / "conversation.usermessages",
        ["user_id", "message_id", "folder_id", "trashed", "unread", "total_quota"],
        holdings,
    )
    _table(
        folder / "conversation.folders",
        ["id", "parent_id", "user_id", "name", "depth", "trashed"],
        [[sorties, None, me, "Sorties", 1, False], [year, sorties, me, "2026", 2, False]],
    )
    _table(
        folder / "conversation.attachments",
        ["id", "name", "charset", "filename", "contentType", "contentTransferEncoding", "size"],
        [[attachment, "autorisation.pdf", "UTF-8", "autorisation.pdf", "application/pdf", "binary", len(_PDF)]],
    )
    _table(
        folder / "conversation.usermessagesattachments",
        ["user_id", "message_id", "attachment_id"],
        [[me, filed, attachment]],
    )
    return folder.parent
