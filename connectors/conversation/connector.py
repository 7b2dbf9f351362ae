"""The ``conversation`` connector: Edifice (ENT Core) internal messaging, read from user archives and
handed on as real RFC 5322 messages. ENT messaging is not IMAP; this is how it reaches one.

Location: ``conversation:/path/to/archives``; each directory under it is one user's archive (the ENT's
"export my data"), whose ``Messaging/`` (or ``Conversation/``) folder holds the tables
``conversation.messages``, ``conversation.usermessages``, ``conversation.folders``,
``conversation.attachments`` and ``conversation.usermessagesattachments``, each as
``{"fields": [...], "results": [[...], ...]}``, and the attachments' bytes in any subfolder, named by
attachment id.

Each message the archive's user holds becomes a message of theirs, built deterministically (the same
archive always gives the same bytes): ``Message-ID`` ``<uuid@message_id_domain>``, ``In-Reply-To`` and
``References`` from the parent, ``Date`` from the epoch milliseconds, ``From``/``To``/``Cc`` from the
ids (``addresses`` maps an ENT id to its address, else ``<id>@address_domain``; a group recipient is an
RFC 5322 group, ``Name: ;``), the HTML body with a text/plain alternative, attachments as parts. The
folder is kept: drafts in ``Drafts``, what the user sent in ``Sent``, trashed messages in ``Trash``, the
user's own folder tree as it is, the rest in ``INBOX``; unread state is the absence of ``\\Seen``.

Options: :class:`ConversationOptions`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import email.utils
import html.parser
import json
import uuid
from collections.abc import Iterator, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

from ent_migrate.connectors._mail import Folder, MailConnector, Stored, place_of
from ent_migrate.contract import Capability, CheckResult, ConnectorOptions, Role
from ent_migrate.errors import ConfigError, TerminalError
from ent_migrate.options import option

__all__ = ["ConversationConnector", "ConversationOptions", "html_to_text", "load_table"]

TABLES = ("messages", "usermessages", "folders", "attachments", "usermessagesattachments")
_DIRS = ("Messaging", "Conversation")
_BOUNDARY = uuid.UUID("1e1f9a50-2f0b-4c8e-9d3c-5b7d0e6a4f21")


@dataclasses.dataclass(frozen=True, slots=True)
class ConversationOptions(ConnectorOptions):
    address_domain: str = option("ent.invalid", "domain of the address made for an ENT id without one")
    message_id_domain: str = option("conversation.ent.invalid", "domain of the Message-ID made from a uuid")
    addresses: Mapping[str, str] = option(help="ENT id -> e-mail address (from the id map)", empty_table=True)
    owners: Mapping[str, str] = option(help="ENT user id -> the person id mail belongs to", empty_table=True)


def load_table(path: Path) -> list[dict[str, Any]]:
    """The rows of one ``{"fields": [...], "results": [[...]]}`` table; raises ValueError when malformed."""
    data = json.loads(path.read_text("utf-8"))
    fields, results = data["fields"], data["results"]
    if not isinstance(fields, list) or not isinstance(results, list):
        raise ValueError("fields and results must be lists")
    return [dict(zip(fields, row, strict=True)) for row in results]


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list) else []


class _Text(html.parser.HTMLParser):
    """The text of an HTML body, line breaks where blocks end (for the text/plain alternative)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "div", "li", "tr", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body: str) -> str:
    parser = _Text()
    parser.feed(body)
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(lines).strip() + "\n"


@dataclasses.dataclass
class _Archive:
    path: Path
    user: str
    messages: dict[str, dict[str, Any]]
    holdings: list[dict[str, Any]]  # usermessages rows of the archive's user
    folders: dict[str, dict[str, Any]]
    attachments: dict[str, dict[str, Any]]
    links: dict[str, list[str]]  # message id -> attachment ids
    names: dict[str, tuple[str, bool]]  # id -> (display name, is a group)


class ConversationConnector(MailConnector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "conversation"
    summary: ClassVar[str] = "Edifice ENT messaging (conversation tables of user archives) as RFC 5322 mail."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE})
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MAIL})
    location_help: ClassVar[str] = "conversation:/path/to/archives (one user archive per directory)"
    Options: ClassVar[type[ConnectorOptions]] = ConversationOptions
    # The fixture writer (connectors/conversation/fixture.py) is not declared as ``fixture_writer`` yet:
    # ``fixtures generate --format`` has a fixed list of formats, and "all" would change its output.

    options: ConversationOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not location:
            raise ConfigError("conversation needs a location: conversation:/path/to/archives")
        self.root = Path(location).expanduser()
        self._archives: dict[str, _Archive] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        return CheckResult(
            reachable=self.root.is_dir(),
            authenticated=None,
            detail="folder found" if self.root.is_dir() else "no such folder",
        )

    # -- reading the archives ------------------------------------------------------------------
    def _load(self) -> dict[str, _Archive]:
        if self._archives is not None:
            return self._archives
        self._archives = {}
        for path in sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []:
            folder = next((path / d for d in _DIRS if (path / d).is_dir()), None)
            if folder is None:
                continue
            archive = self._archive(path, folder)
            if archive is not None:
                owner = self.options.owners.get(archive.user, archive.user)
                self._archives[owner] = archive
        return self._archives

    def _archive(self, path: Path, folder: Path) -> _Archive | None:
        tables: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            file = folder / f"conversation.{table}"
            if not file.exists():
                tables[table] = []
                continue
            try:
                tables[table] = load_table(file)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                self.problems.add(
                    "mail.malformed", f"{path.name}/{folder.name}/{file.name}", "not a fields/results table"
                )
                tables[table] = []
        users = {str(r.get("user_id")) for r in tables["usermessages"] if r.get("user_id")}
        if len(users) != 1:
            if users:
                self.problems.add("mail.malformed", f"{path.name}/{folder.name}", "messages of several users")
            return None
        user = users.pop()
        messages = {str(m["id"]): m for m in tables["messages"] if m.get("id")}
        names: dict[str, tuple[str, bool]] = {}
        for message in messages.values():
            raw = message.get("displayNames")
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raw = []
            for entry in raw if isinstance(raw, list) else []:
                # "id$name$group name$" (ENT Core's form) or [id, name, is_group]
                parts = entry.split("$") if isinstance(entry, str) else [str(x) for x in entry]
                if len(parts) >= 2 and parts[0]:
                    names[parts[0]] = (parts[1], len(parts) > 2 and parts[2] not in ("", "False", "false", "None"))
        links: dict[str, list[str]] = {}
        for row in tables["usermessagesattachments"]:
            if str(row.get("user_id")) == user:
                links.setdefault(str(row["message_id"]), []).append(str(row["attachment_id"]))
        return _Archive(
            path=folder,
            user=user,
            messages=messages,
            holdings=[r for r in tables["usermessages"] if str(r.get("message_id")) in messages],
            folders={str(f["id"]): f for f in tables["folders"] if f.get("id")},
            attachments={str(a["id"]): a for a in tables["attachments"] if a.get("id")},
            links=links,
            names=names,
        )

    def _folder_path(self, archive: _Archive, folder_id: str) -> str:
        parts: list[str] = []
        seen: set[str] = set()
        current: str | None = folder_id
        while current and current in archive.folders and current not in seen:
            seen.add(current)
            parts.append(str(archive.folders[current].get("name") or current).replace("/", "-"))
            parent = archive.folders[current].get("parent_id")
            current = str(parent) if parent else None
        return "/".join(reversed(parts))

    def _place(self, archive: _Archive, holding: dict[str, Any]) -> tuple[str, str | None]:
        message = archive.messages[str(holding["message_id"])]
        if holding.get("trashed"):
            return "Trash", "\\Trash"
        if message.get("state") == "DRAFT":
            return "Drafts", "\\Drafts"
        if holding.get("folder_id"):
            return self._folder_path(archive, str(holding["folder_id"])) or "INBOX", None
        if str(message.get("from")) == archive.user:
            return "Sent", "\\Sent"
        return "INBOX", None

    # -- store ---------------------------------------------------------------------------------
    def _owners(self) -> list[str]:
        return sorted(self._load())

    def _list_folders(self, owner: str) -> list[Folder]:
        archive = self._load()[owner]
        found = {"INBOX": None} | {path: role for path, role in (self._place(archive, h) for h in archive.holdings)}
        for folder_id in archive.folders:  # empty user folders are kept too
            found.setdefault(self._folder_path(archive, folder_id), None)
        out: dict[str, str | None] = {}
        for path, role in found.items():
            segments = path.split("/")
            for depth in range(1, len(segments)):
                out.setdefault("/".join(segments[:depth]), None)
            out[path] = role
        return [Folder(path, path, role) for path, role in sorted(out.items())]

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        archive = self._load()[owner]
        rows = sorted(
            archive.holdings,
            key=lambda h: (int(archive.messages[str(h["message_id"])].get("date") or 0), str(h["message_id"])),
        )
        for holding in rows:
            if self._place(archive, holding)[0] != folder.native:
                continue
            message = archive.messages[str(holding["message_id"])]
            flags = [] if holding.get("unread") else ["\\Seen"]
            if message.get("state") == "DRAFT":
                flags.append("\\Draft")
            when = dt.datetime.fromtimestamp(int(message.get("date") or 0) / 1000, dt.UTC)
            yield Stored(str(message["id"]), self._render(archive, message), tuple(flags), when)

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        archive = self._load().get(owner)
        if archive is None or handle not in archive.messages:
            raise TerminalError("the message is no longer in the archive")
        return self._render(archive, archive.messages[handle])

    # -- building a message --------------------------------------------------------------------
    def _address(self, archive: _Archive, ident: str) -> str:
        name, _ = archive.names.get(ident, ("", False))
        addr = self.options.addresses.get(ident) or f"{ident}@{self.options.address_domain}"
        return email.utils.formataddr((name, addr)) if name else addr

    def _recipients(self, archive: _Archive, idents: list[str]) -> str:
        out = []
        for ident in idents:
            name, group = archive.names.get(ident, ("", False))
            if group:  # a class or a group: an RFC 5322 group, its members are not listed
                out.append(f"{name.replace(':', ' ').replace(';', ' ')}: ;")
            else:
                out.append(self._address(archive, ident))
        return ", ".join(out)

    def _render(self, archive: _Archive, message: dict[str, Any]) -> bytes:
        ident = str(message["id"])
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["Message-ID"] = f"<{ident}@{self.options.message_id_domain}>"
        parent = message.get("parent_id")
        if parent:
            mail["In-Reply-To"] = mail["References"] = f"<{parent}@{self.options.message_id_domain}>"
        when = dt.datetime.fromtimestamp(int(message.get("date") or 0) / 1000, dt.UTC)
        mail["Date"] = email.utils.format_datetime(when.replace(microsecond=0))
        mail["From"] = self._address(archive, str(message.get("from") or ""))
        for header, column in (("To", "to"), ("Cc", "cc")):
            idents = _ids(message.get(column))
            if idents:
                mail[header] = self._recipients(archive, idents)
        # a vendor's subject may hold a line break (a folded header kept raw, a user's paste): in a
        # header it would start a new one, and the email package rightly refuses it
        mail["Subject"] = " ".join(str(message.get("subject") or "").split("\n")).replace("\r", " ")
        body = str(message.get("body") or "")
        mail.set_content(html_to_text(body), subtype="plain", charset="utf-8", cte="quoted-printable")
        mail.add_alternative(body or "<p></p>", subtype="html", charset="utf-8", cte="quoted-printable")
        for attachment_id in archive.links.get(ident, []):
            meta = archive.attachments.get(attachment_id)
            data = next((p.read_bytes() for p in sorted(archive.path.glob(f"*/{attachment_id}")) if p.is_file()), None)
            if meta is None or data is None:
                self.problems.add("mail.malformed", f"{place_of(archive.user)}: attachment", "missing bytes")
                continue
            maintype, _, subtype = str(meta.get("contentType") or "application/octet-stream").partition("/")
            mail.add_attachment(
                data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=str(meta.get("filename") or meta.get("name") or attachment_id),
            )
        for number, part in enumerate(p for p in mail.walk() if p.is_multipart()):
            part.set_boundary(f"=_{uuid.uuid5(_BOUNDARY, f'{ident}|{number}').hex}")  # deterministic bytes
        return mail.as_bytes(policy=email.policy.SMTP)
