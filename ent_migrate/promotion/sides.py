"""The two sides of a promotion as one run reads them: people, CM2/6e levels, guardians, the primary
side's documents, productions and mail, and where each file goes under the pupil's folder."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from ent_migrate.contract import Capability, Connector, implemented_capabilities
from ent_migrate.errors import ConfigError
from ent_migrate.model import Document, Group, Guardianship, Mailbox, Membership, Message, Person, Production
from ent_migrate.promotion.moves import COLLAB_DIR, coauthors_of, mail_of

__all__ = ["CM2", "SIXTH", "Side", "doc_path", "read_csv", "read_side"]

CM2 = frozenset({"CM2"})
SIXTH = frozenset({"6E", "6EME", "6"})


@dataclasses.dataclass(slots=True)
class Side:
    """What one side holds, indexed for the run."""

    people: dict[str, Person] = dataclasses.field(default_factory=dict)
    level_of: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # person → (uai, level)
    guardians: dict[str, list[Guardianship]] = dataclasses.field(default_factory=dict)  # by pupil
    documents: dict[str, list[Document | Production]] = dataclasses.field(default_factory=dict)
    mailboxes: dict[str, list[Mailbox]] = dataclasses.field(default_factory=dict)
    mail: dict[str, list[Message]] = dataclasses.field(default_factory=dict)
    #: (application, source_ref) → its owners, for the productions two or more pupils hold (moves.py)
    shared: dict[tuple[str, str], tuple[str, ...]] = dataclasses.field(default_factory=dict)


def read_side(conn: Connector, *, documents: bool, where: str) -> Side:
    side = Side()
    groups: dict[tuple[str, str], Group] = {}
    caps = implemented_capabilities(type(conn))
    if Capability.ACCOUNTS not in caps:
        raise ConfigError(f"{where}: the {conn.name} connector reads no accounts; a promotion side needs the pupils")
    for rec in conn.read_accounts():
        if isinstance(rec, Person):
            side.people[rec.id] = rec
    if Capability.GROUPS in caps:
        for g in conn.read_groups():
            groups[(g.uai, g.code)] = g
    if Capability.RELATIONS in caps:
        for rel in conn.read_relations():
            if isinstance(rel, Membership):
                grp = groups.get((rel.uai, rel.group_code))
                level = (grp.level or "").upper().replace(" ", "") if grp else ""
                if level in CM2 or level in SIXTH:
                    side.level_of[rel.person_id] = (rel.uai, level)
            elif isinstance(rel, Guardianship):
                side.guardians.setdefault(rel.student_id, []).append(rel)
    if documents and Capability.DOCUMENTS in caps:
        for doc in conn.read_documents():
            side.documents.setdefault(doc.owner_id, []).append(doc)
        side.shared = coauthors_of(side.documents)
    if documents and Capability.MAIL in caps:
        side.mailboxes, side.mail = mail_of(conn.read_mail())
    return side


def read_csv(path: Path | None, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if path is None:
        return []
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            if any(not (row.get(c) or "").strip() for c in columns):
                raise ConfigError(f"{path}:{line}: empty {'/'.join(columns)}")
            rows.append({k: (v or "").strip() for k, v in row.items() if k})
    return rows


def doc_path(doc: Document | Production, shared: dict[tuple[str, str], tuple[str, ...]] | None = None) -> str:
    if isinstance(doc, Document):
        return doc.path
    ext = {"text/html": "html", "text/markdown": "md", "application/json": "json"}.get(doc.format, "bin")
    safe = "".join(c if c.isalnum() or c in " -_." else "_" for c in doc.title).strip() or "sans-titre"
    # a collaborative work is filed apart, read-only, so it never passes for the pupil's own
    top = COLLAB_DIR if shared and (doc.app, doc.source_ref) in shared else "Productions"
    return f"{top}/{doc.app}/{safe}.{ext}"
