"""``MailConnector``: reading, writing and proving messages, once, for every mail store.

A store (an IMAP account, a Maildir, mbox files, EML folders) implements seven small methods — list
owners, list folders, list messages, get one message, create a folder, append, set flags — and this
base does the rest the same way for all of them:

- **read**: each owner's folders become ``Mailbox`` records named by role (:func:`~ent_migrate.mail.
  canonical_folder`), each message a ``Message`` keyed by :func:`~ent_migrate.mail.folder_keys` with
  the SHA-256 and size of its wire form, its flags (normalised) and its internal date (UTC, seconds);
- **open_blob**: the bytes are fetched again and refused if they no longer hash to the record's digest
  (the mailbox changed since it was read);
- **write** (target): a message is appended only if the folder does not already hold it — by content id
  and occurrence, or by the per-part fallback id — so a retried, resumed or repeated apply never
  copies a message twice, even when the engine's journal lost the acknowledgement (a kill between the
  APPEND and the journal's *done*). When the message is there, only its flags are brought in line.
  Mail is never deleted or expunged: these connectors do not declare ``delete``.

The per-folder index (key → where the message is) lives in memory for the connector's lifetime; see
``docs/mail.md`` for what the state store should hold instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from ent_migrate.contract import Capability, CheckResult, Connector, Operation, Role
from ent_migrate.errors import ConfigError, TerminalError
from ent_migrate.mail import (
    ROLE_NAMES,
    MessageFacts,
    canonical_folder,
    facts,
    folder_keys,
    normalise_flags,
    occurrence,
    parts_id,
    sha256_hex,
    utc_seconds,
    wire_form,
)
from ent_migrate.model import Mailbox, Message

__all__ = ["Folder", "MailConnector", "Stored", "fsync_dir", "owner_from_segment", "owner_segment", "place_of"]

_ROLE_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class Folder:
    """A folder as the store names it (``native``), its "/"-separated decoded path, its role."""

    native: str
    path: str
    role: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    """One message as a store lists it: a handle to fetch it again, its wire bytes, flags, date."""

    handle: str
    wire: bytes
    flags: tuple[str, ...] = ()
    date: dt.datetime | None = None


@dataclasses.dataclass
class _Entry:
    handle: str
    facts: MessageFacts
    flags: tuple[str, ...]
    date: dt.datetime | None
    key: str = ""
    parts: str = ""  # parts_id of a message listed from a target (the re-encoding fallback), else ""


@dataclasses.dataclass
class _Index:
    """One folder's messages: by content id (what a write looks up) and by key (what open_blob looks up,
    recomputed lazily: keys depend on the whole folder)."""

    folder: Folder
    entries: list[_Entry]
    by_content: dict[str, list[_Entry]] = dataclasses.field(default_factory=dict)
    listed: list[_Entry] = dataclasses.field(default_factory=list)  # listed from a target: the fallback's
    _by_key: dict[str, _Entry] | None = None

    def __post_init__(self) -> None:
        for entry in self.entries:
            self.by_content.setdefault(entry.facts.content_id, []).append(entry)
        self.listed = [e for e in self.entries if e.parts]

    def add(self, entry: _Entry) -> None:
        self.entries.append(entry)
        self.by_content.setdefault(entry.facts.content_id, []).append(entry)
        self._by_key = None

    @property
    def by_key(self) -> dict[str, _Entry]:
        if self._by_key is None:
            keys = folder_keys([e.facts for e in self.entries])
            for entry, key in zip(self.entries, keys, strict=True):
                entry.key = key
            self._by_key = {e.key: e for e in self.entries}
        return self._by_key


class MailConnector(Connector):
    """Base of the mail connectors; subclasses set the class variables and the store methods."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MAIL, Capability.READ_BACK})
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE, Role.TARGET})
    #: whether a target of this format stores flags (mbox and EML cannot without changing the bytes);
    #: a source always reports the flags it finds
    carries_flags: ClassVar[bool] = True

    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self._indexes: dict[tuple[str, str], _Index] = {}
        self._folders_of: dict[str, dict[str, Folder]] = {}  # owner -> model name -> folder
        self._lock = threading.RLock()
        self._content_locks: dict[str, threading.Lock] = {}

    # -- what a store implements ---------------------------------------------------------------
    def _owners(self) -> list[str]:
        raise NotImplementedError

    def _list_folders(self, owner: str) -> list[Folder]:
        raise NotImplementedError

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        raise NotImplementedError

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        """The wire bytes of one message."""
        raise NotImplementedError

    def _create_folder(self, owner: str, path: str, role: str | None) -> Folder:
        raise NotImplementedError

    def _append(
        self, owner: str, folder: Folder, wire: bytes, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> str:
        """Store one message; return its handle."""
        raise NotImplementedError

    def _set_flags(self, owner: str, folder: Folder, handle: str, flags: tuple[str, ...]) -> str:
        """Make the message's flags *flags*; return its (possibly new) handle."""
        raise NotImplementedError

    def _limit(self) -> int | None:
        """The largest message the target accepts, when it says."""
        return None

    # -- source side ---------------------------------------------------------------------------
    def read_mail(self) -> Iterator[Mailbox | Message]:
        for owner in self._owners():
            folders = self._folders(owner, refresh=True)
            for name in sorted(folders):
                yield Mailbox(owner_id=owner, name=name)
            for name in sorted(folders):
                index = self._index(owner, name, refresh=True)
                index.by_key  # noqa: B018 - computes every entry's key
                for entry in index.entries:
                    yield self._record(owner, name, entry)

    def open_blob(self, record: Message | Any) -> IO[bytes]:
        if not isinstance(record, Message):
            raise TerminalError(f"{self.name} holds messages only, not a {record.kind}")
        index = self._index(record.owner_id, record.mailbox)
        entry = index.by_key.get(record.message_id)
        if entry is None or entry.facts.sha256 != record.sha256:
            index = self._index(record.owner_id, record.mailbox, refresh=True)  # the folder may have moved on
            entry = index.by_key.get(record.message_id)
        if entry is None:
            raise TerminalError("the message is no longer in its folder")
        wire = self._get(record.owner_id, index.folder, entry.handle)
        if facts(wire).sha256 != record.sha256:
            raise TerminalError("the message changed since it was read (its SHA-256 differs)")
        return io.BytesIO(wire)

    # -- target side ---------------------------------------------------------------------------
    def write_mail(self, op: Operation, blob: IO[bytes] | None) -> None:
        record = op.record
        if isinstance(record, Mailbox):
            self._ensure_folder(record.owner_id, record.name)
            return
        if not isinstance(record, Message):
            raise TerminalError(f"{self.name} writes mailboxes and messages only, not a {op.kind}")
        if blob is None:
            raise TerminalError("a message write without its bytes")
        wire = wire_form(blob.read())
        found = facts(wire)
        limit = self._limit()
        if limit is not None and found.size > limit:
            raise TerminalError(f"message of {found.size} bytes over the target's limit of {limit} bytes")
        flags = normalise_flags(record.flags) if self.carries_flags else ()
        date = utc_seconds(record.date) if record.date is not None else None
        folder = self._ensure_folder(record.owner_id, record.mailbox)
        with self._content_lock(f"{record.owner_id}|{record.mailbox}|{found.content_id}"):
            index = self._index(record.owner_id, record.mailbox)
            if index.folder.native != folder.native:  # indexed before the folder existed
                index = self._index(record.owner_id, record.mailbox, refresh=True)
            holding = self._holding(index, wire, found.content_id)
            wanted = occurrence(record.message_id)
            if len(holding) >= wanted:
                entry = holding[wanted - 1]
                if self.carries_flags and entry.flags != flags:
                    entry.handle = self._set_flags(record.owner_id, folder, entry.handle, flags)
                    entry.flags = flags
                return
            # Copies of one content may be written out of order (concurrent workers, a resumed run):
            # the k-th needs k copies in the folder, so the missing ones before it are appended too
            # (the same bytes), and an earlier occurrence, when it comes, finds its copy there and
            # only brings its flags in line. Appending one here would leave k-1 copies for k messages.
            for _ in range(wanted - len(holding)):
                handle = self._append(
                    record.owner_id, folder, wire, flags, date, f"message {sha256_hex(op.key.encode())[:12]}"
                )
                with self._lock:
                    index.add(_Entry(handle, found, flags, date))

    # -- internals -----------------------------------------------------------------------------
    def _record(self, owner: str, mailbox: str, entry: _Entry) -> Message:
        return Message(
            owner_id=owner,
            mailbox=mailbox,
            message_id=entry.key,
            sha256=entry.facts.sha256,
            size=entry.facts.size,
            flags=entry.flags,
            date=utc_seconds(entry.date) if entry.date is not None else None,
        )

    def _content_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._content_locks.setdefault(name, threading.Lock())

    @staticmethod
    def _holding(index: _Index, wire: bytes, content: str) -> list[_Entry]:
        same = index.by_content.get(content, [])
        listed = index.listed
        if same or not listed:
            return same
        # A server that re-encoded the MIME of a message written by an earlier run gives it another
        # content id: compare decoded leaf parts, against messages listed from the server only (two
        # messages this instance wrote are two different source messages).
        wanted = parts_id(wire)
        return [e for e in listed if e.parts == wanted]

    def _folders(self, owner: str, *, refresh: bool = False) -> dict[str, Folder]:
        """Model name → folder for *owner*: role folders by their role's name, their children under it."""
        with self._lock:
            if not refresh and owner in self._folders_of:
                return self._folders_of[owner]
            found = sorted(self._list_folders(owner), key=lambda f: (f.path.count("/"), f.path))
            names: dict[str, Folder] = {}
            renamed: dict[str, str] = {}  # native path prefix -> model name
            for folder in found:
                head, sep, rest = folder.path.rpartition("/")
                parent = renamed.get(head, head) if sep else ""
                name = canonical_folder(folder.path, folder.role)
                if sep and name == folder.path:
                    name = f"{parent}/{rest}"
                if name in names:
                    self.problems.add(
                        "mail.folder-clash",
                        f"{place_of(owner)}: folder {len(names) + 1}",
                        "two folders have one name or role; the second is not read",
                    )
                    continue
                renamed[folder.path] = name
                names[name] = folder
            self._folders_of[owner] = names
            return names

    def _ensure_folder(self, owner: str, name: str) -> Folder:
        with self._lock:
            folders = self._folders(owner)
            if name in folders:
                return folders[name]
            head, sep, rest = name.rpartition("/")
            path = name
            if sep:
                parent = self._ensure_folder(owner, head)
                path = f"{parent.path}/{rest}"
            role = _ROLE_BY_NAME.get(name) if not sep else None
            if role is not None:
                # Matched by role, never by name: a target whose Sent folder is called "Envoyés" gets it.
                for folder in self._list_folders(owner):
                    if folder.role == role:
                        folders[name] = folder
                        return folder
            folder = self._create_folder(owner, path, role)
            folders[name] = folder
            return folder

    def _index(self, owner: str, mailbox: str, *, refresh: bool = False) -> _Index:
        with self._lock:
            index = self._indexes.get((owner, mailbox))
            if index is not None and not refresh:
                return index
            folder = self._folders(owner).get(mailbox)
            if folder is None:
                index = _Index(Folder("", mailbox), [])
            else:
                entries = []
                for stored in self._list_messages(owner, folder):
                    flags = normalise_flags(stored.flags)
                    date = utc_seconds(stored.date) if stored.date is not None else None
                    entries.append(
                        _Entry(
                            stored.handle,
                            facts(stored.wire),
                            flags,
                            date,
                            parts=parts_id(stored.wire) if self.role is not Role.SOURCE else "",
                        )
                    )
                index = _Index(folder, entries)
            self._indexes[(owner, mailbox)] = index
            return index


class FileTreeMailConnector(MailConnector):
    """Base of the mail connectors kept in a folder tree on disk (maildir, mbox, eml): a root folder
    from the location, one sub-folder per owner (the owner id percent-encoded)."""

    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not location:
            raise ConfigError(f"{self.name} needs a location: {self.name}:/path/to/root")
        self.root = Path(location).expanduser()

    def check(self) -> CheckResult:
        if self.root.is_dir():
            return CheckResult(reachable=True, authenticated=None, detail="folder found")
        return CheckResult(reachable=self.root.parent.is_dir(), authenticated=None, detail="folder not written yet")

    def _owners(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(owner_from_segment(p.name) for p in self.root.iterdir() if p.is_dir())

    def _owner_root(self, owner: str) -> Path:
        return self.root / owner_segment(owner)


def place_of(owner: str) -> str:
    """How problems name an owner: a short digest, never the id itself (ids are personal data)."""
    return f"owner {sha256_hex(owner.encode())[:12]}"


def owner_segment(owner: str) -> str:
    """A directory name for an owner id: as it is, but ``%``, ``/``, control characters and a leading dot
    percent-encoded (so the name is one safe path segment, and :func:`owner_from_segment` reverses it)."""
    out = []
    for index, char in enumerate(owner or "%"):
        if char in "%/" or ord(char) < 0x20 or ord(char) == 0x7F or (index == 0 and char == "."):
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    return "".join(out) if owner else "%"


def owner_from_segment(name: str) -> str:
    return "" if name == "%" else urllib.parse.unquote(name)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
