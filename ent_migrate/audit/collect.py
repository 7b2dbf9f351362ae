"""Read every configured source of a hand-back once, streaming, into the compact facts the clauses need.

Only identifiers (never names, emails or contents) are kept, and only those the checks must resolve
(person ids, group keys); everything else is a counter. Identifiers are pseudonymised by the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from email import policy
from email.parser import BytesParser

from ent_migrate.audit.calendars import CALENDAR_FORMATS, read_calendar_file
from ent_migrate.audit.credentials import CredentialScan
from ent_migrate.audit.evidence import HandbackInventory, HandbackSource
from ent_migrate.contract import Capability, Connector
from ent_migrate.errors import EntMigrateError, UnreachableError
from ent_migrate.model import (
    Document,
    Function,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Production,
    Profile,
    Structure,
)

__all__ = ["Facts", "SourceFacts", "collect", "sniff_media_type"]

# Magic numbers of the media types an ENT hands back most; others are "unknown", not wrong.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"ID3", "audio/mpeg"),
)
_ZIP_BASED = ("application/vnd.openxmlformats", "application/vnd.oasis.opendocument", "application/zip")


def sniff_media_type(head: bytes) -> str | None:
    """The media type the first bytes prove, or None when they prove nothing."""
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    return None


def media_matches(declared: str, sniffed: str | None) -> bool:
    if sniffed is None:
        return True
    if sniffed == "application/zip":
        return declared.startswith(_ZIP_BASED)
    return declared == sniffed


@dataclasses.dataclass
class SourceFacts:
    name: str
    connector: str
    problems: dict[str, int] = dataclasses.field(default_factory=dict)
    error: str | None = None  # the source could not be read through (its message, no personal data)
    reference: bool = False


@dataclasses.dataclass
class Facts:
    """What the clause checks read; identifiers are raw keys, pseudonymised at report time."""

    sources: list[SourceFacts] = dataclasses.field(default_factory=list)
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    uais: set[str] = dataclasses.field(default_factory=set)
    person_ids: Counter[str] = dataclasses.field(default_factory=Counter)
    logins: Counter[str] = dataclasses.field(default_factory=Counter)
    per_profile_uai: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    reference_per_profile_uai: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    # a person in two académie feeds (1D and 2D) is counted once per cell
    reference_seen: set[tuple[str, str, str]] = dataclasses.field(default_factory=set)
    reference_uais: set[str] = dataclasses.field(default_factory=set)
    inactive: list[str] = dataclasses.field(default_factory=list)
    students: set[str] = dataclasses.field(default_factory=set)
    groups: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    memberships: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    guardianships: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    functions: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    mail_folders: Counter[str] = dataclasses.field(default_factory=Counter)
    message_ids: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    unparsable_messages: list[str] = dataclasses.field(default_factory=list)
    doc_count: Counter[str] = dataclasses.field(default_factory=Counter)
    doc_bytes: Counter[str] = dataclasses.field(default_factory=Counter)
    hash_mismatch: list[str] = dataclasses.field(default_factory=list)
    missing_blob: list[str] = dataclasses.field(default_factory=list)
    media_mismatch: list[str] = dataclasses.field(default_factory=list)
    productions: Counter[str] = dataclasses.field(default_factory=Counter)
    unreadable_productions: list[str] = dataclasses.field(default_factory=list)
    calendar_items: Counter[str] = dataclasses.field(default_factory=Counter)  # files per media type
    calendar_entries: int = 0  # events, to-dos, cards read in them (calendars.py)
    bad_calendar: dict[str, int] = dataclasses.field(default_factory=dict)  # file key → unreadable items
    not_utf8: list[str] = dataclasses.field(default_factory=list)
    inventories: list[HandbackInventory] = dataclasses.field(default_factory=list)
    credentials: CredentialScan = dataclasses.field(default_factory=CredentialScan)
    handback_sources: int = 0


def _read_blob(connector: Connector, record: Message | Document | Production) -> bytes | None:
    try:
        with connector.open_blob(record) as blob:
            return blob.read()
    except (EntMigrateError, OSError):
        return None


def _collect_one(connector: Connector, facts: Facts, reference: bool) -> None:
    caps = connector.capabilities
    if Capability.ACCOUNTS in caps:
        for rec in connector.read_accounts():
            facts.kinds[str(rec.kind)] += 0 if reference else 1
            if isinstance(rec, Structure):
                (facts.reference_uais if reference else facts.uais).add(rec.uai)
            elif isinstance(rec, Person):
                if reference:
                    for uai in rec.structures or ("",):
                        if (str(rec.profile), uai, rec.id) not in facts.reference_seen:
                            facts.reference_seen.add((str(rec.profile), uai, rec.id))
                            facts.reference_per_profile_uai[(str(rec.profile), uai)] += 1
                    continue
                for uai in rec.structures or ("",):
                    facts.per_profile_uai[(str(rec.profile), uai)] += 1
                facts.person_ids[rec.id] += 1
                if rec.login:
                    facts.logins[rec.login] += 1
                if not rec.active:
                    facts.inactive.append(rec.id)
                if rec.profile == Profile.STUDENT:
                    facts.students.add(rec.id)
            elif isinstance(rec, Function) and not reference:
                facts.functions.append((rec.person_id, rec.uai))
    if reference:
        return
    if Capability.GROUPS in caps:
        for group in connector.read_groups():
            facts.kinds[str(group.kind)] += 1
            facts.groups.add((group.uai, group.code))
    if Capability.RELATIONS in caps:
        for rel in connector.read_relations():
            facts.kinds[str(rel.kind)] += 1
            if isinstance(rel, Membership):
                facts.memberships.append((rel.person_id, rel.uai, rel.group_code))
            elif isinstance(rel, Guardianship):
                facts.guardianships.append((rel.guardian_id, rel.student_id))
    if Capability.MAIL in caps:
        parser = BytesParser(policy=policy.default)
        for item in connector.read_mail():
            facts.kinds[str(item.kind)] += 1
            if isinstance(item, Mailbox):
                facts.mail_folders.setdefault(item.name, 0)
            elif isinstance(item, Message):
                facts.mail_folders[item.mailbox] += 1
                facts.message_ids[(item.owner_id, item.message_id)] += 1
                data = _read_blob(connector, item)
                if data is None:
                    facts.missing_blob.append(item.key)
                    continue
                if hashlib.sha256(data).hexdigest() != item.sha256:
                    facts.hash_mismatch.append(item.key)
                message = parser.parsebytes(data)
                if message.defects or not message.keys():
                    facts.unparsable_messages.append(item.key)
    if Capability.DOCUMENTS in caps:
        for doc in connector.read_documents():
            facts.kinds[str(doc.kind)] += 1
            data = _read_blob(connector, doc)
            if isinstance(doc, Production):
                facts.productions[doc.app] += 1
                if data is None:
                    facts.unreadable_productions.append(doc.key)
                    continue
                if doc.format in CALENDAR_FORMATS:
                    facts.calendar_items[doc.format] += 1
                    counted = read_calendar_file(data, doc.format)
                    facts.calendar_entries += counted.items
                    if counted.unreadable:
                        facts.bad_calendar[doc.key] = counted.unreadable
                if doc.format.startswith("text/"):
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        facts.not_utf8.append(doc.key)
            else:
                facts.doc_count[doc.owner_id] += 1
                facts.doc_bytes[doc.owner_id] += doc.size
                if data is None:
                    facts.missing_blob.append(doc.key)
                    continue
            if hashlib.sha256(data).hexdigest() != doc.sha256:
                facts.hash_mismatch.append(doc.key)
            if isinstance(doc, Document) and not media_matches(doc.media_type, sniff_media_type(data[:16])):
                facts.media_mismatch.append(doc.key)
    if isinstance(connector, HandbackSource):
        facts.handback_sources += 1
        facts.inventories.extend(connector.handback_inventory())


def collect(connectors: list[tuple[str, Connector, bool]], credentials: CredentialScan | None = None) -> Facts:
    """Read each ``(name, connector, is_reference)``; a source that fails midway is recorded, not raised."""
    facts = Facts(credentials=credentials or CredentialScan())
    for name, connector, reference in connectors:
        source = SourceFacts(name=name, connector=connector.name, reference=reference)
        try:
            _collect_one(connector, facts, reference)
        except UnreachableError:
            raise  # exit 3, not a verdict: the hand-back was not read at all
        except EntMigrateError as exc:
            source.error = str(exc)
        source.problems = {p.code: p.count for p in connector.problems}
        facts.sources.append(source)
    return facts
