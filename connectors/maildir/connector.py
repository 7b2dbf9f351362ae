"""The ``maildir`` connector: one Maildir++ per owner, as Dovecot lays it out, both ways.

Location: ``maildir:/path/to/root``; ``root/<owner>/`` is the owner's Maildir (INBOX in ``cur/ new/
tmp/``, folder ``A/B`` in ``.A.B/`` with each name in modified UTF-7), the owner directory being the
owner id percent-encoded. Flags are the info suffix (``:2,DFPRST``; ``P`` is ``$Forwarded``) and keywords
the letters ``a``–``z`` of each folder's ``dovecot-keywords``; the internal date is the file's mtime
(Dovecot's convention). Files hold bare LF; the message bytes are their wire form (CRLF), as Dovecot
serves them. Writes go to ``tmp/`` and are renamed into ``cur/`` (atomic: a kill never leaves half a
message). Special folders are recognised by their usual names (``Sent``, ``Envoyés``...).

Options: :class:`MaildirOptions`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ent_migrate.connectors._mail import (
    FileTreeMailConnector,
    Folder,
    Stored,
    fsync_dir,
    place_of,
)
from ent_migrate.contract import ConnectorOptions, Role
from ent_migrate.errors import TerminalError
from ent_migrate.mail import local_form, mutf7_decode, mutf7_encode, role_for_name, wire_form
from ent_migrate.options import option

__all__ = ["MaildirConnector", "MaildirOptions"]

_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
_BY_FLAG = {flag.lower(): letter for letter, flag in _LETTERS.items()}
_KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclasses.dataclass(frozen=True, slots=True)
class MaildirOptions(ConnectorOptions):
    durable: bool = option(True, "fsync every message and directory written, so it survives a crash")


class MaildirConnector(FileTreeMailConnector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "maildir"
    summary: ClassVar[str] = "Maildir++ folders per owner (Dovecot layout), flags and keywords in file names."
    location_help: ClassVar[str] = "maildir:/path/to/root (one Maildir per owner: root/<owner>/)"
    max_concurrency: ClassVar[int] = 1
    Options: ClassVar[type[ConnectorOptions]] = MaildirOptions

    options: MaildirOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self._serial = itertools.count()

    # -- store ---------------------------------------------------------------------------------
    def _list_folders(self, owner: str) -> list[Folder]:
        base = self._owner_root(owner)
        if not base.is_dir():
            return []
        out = [Folder("", "INBOX")] if (base / "cur").is_dir() else []
        for path in sorted(base.iterdir()):
            if not (path.name.startswith(".") and path.name not in (".", "..") and (path / "cur").is_dir()):
                continue
            try:
                segments = [mutf7_decode(s) for s in path.name[1:].split(".")]
            except ValueError:
                self.problems.add("mail.malformed", f"{place_of(owner)}/{path.name}", "folder name")
                continue
            role = role_for_name(segments[0]) if len(segments) == 1 else None
            out.append(Folder(path.name, "/".join(segments), role))
        return out

    def _dir(self, owner: str, folder: Folder) -> Path:
        return self._owner_root(owner) / folder.native if folder.native else self._owner_root(owner)

    def _keywords(self, folder_dir: Path) -> list[str]:
        path = folder_dir / "dovecot-keywords"
        if not path.is_file():
            return []
        out = [""] * 26
        for line in path.read_text("utf-8", "replace").splitlines():
            number, _, word = line.partition(" ")
            if number.isdigit() and int(number) < 26 and word:
                out[int(number)] = word
        return out

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        folder_dir = self._dir(owner, folder)
        keywords = self._keywords(folder_dir)
        for sub in ("cur", "new"):
            for path in sorted((folder_dir / sub).iterdir()):
                if path.name.startswith("."):
                    continue
                flags = self._flags(path.name, keywords) if sub == "cur" else ()
                stat = path.stat()
                date = dt.datetime.fromtimestamp(int(stat.st_mtime), dt.UTC)
                yield Stored(f"{sub}/{path.name}", wire_form(path.read_bytes()), flags, date)

    @staticmethod
    def _flags(name: str, keywords: list[str]) -> tuple[str, ...]:
        _, sep, info = name.rpartition(":2,")
        if not sep:
            return ()
        out = []
        for letter in info:
            if letter in _LETTERS:
                out.append(_LETTERS[letter])
            elif letter in _KEYWORD_LETTERS and keywords and keywords[_KEYWORD_LETTERS.index(letter)]:
                out.append(keywords[_KEYWORD_LETTERS.index(letter)])
        return tuple(out)

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        try:
            return wire_form((self._dir(owner, folder) / handle).read_bytes())
        except FileNotFoundError:
            raise TerminalError("the message file is gone (renamed or deleted since it was read)") from None

    def _create_folder(self, owner: str, path: str, role: str | None) -> Folder:
        base = self._owner_root(owner)
        if path == "INBOX":
            native = ""
        else:
            segments = path.split("/")
            if any("." in s or not s for s in segments):
                raise TerminalError("a Maildir++ folder name cannot hold a dot or be empty")
            native = "." + ".".join(mutf7_encode(s) for s in segments)
        folder_dir = base / native if native else base
        for sub in ("tmp", "new", "cur"):
            (folder_dir / sub).mkdir(parents=True, exist_ok=True)
        if native:
            (folder_dir / "maildirfolder").touch()
        if self.options.durable:
            fsync_dir(folder_dir)
            fsync_dir(base)
        return Folder(native, path, role)

    def _info(self, folder_dir: Path, flags: tuple[str, ...], where: str) -> str:
        letters = []
        keywords: list[str] | None = None
        for flag in flags:
            letter = _BY_FLAG.get(flag.lower())
            if letter is None:
                keywords = keywords if keywords is not None else self._keywords(folder_dir)
                letter = self._keyword_letter(folder_dir, keywords, flag, where)
            if letter:
                letters.append(letter)
        return ":2," + "".join(sorted(set(letters)))

    def _keyword_letter(self, folder_dir: Path, keywords: list[str], word: str, where: str) -> str:
        if word in keywords:
            return _KEYWORD_LETTERS[keywords.index(word)]
        keywords.extend([""] * (26 - len(keywords)))
        if "" not in keywords:
            self.problems.add("mail.flag-refused", where, "more than 26 keywords in one Maildir folder")
            return ""
        slot = keywords.index("")
        keywords[slot] = word
        text = "".join(f"{i} {w}\n" for i, w in enumerate(keywords) if w)
        tmp = folder_dir / "dovecot-keywords.tmp"
        tmp.write_text(text, "utf-8")
        os.replace(tmp, folder_dir / "dovecot-keywords")
        return _KEYWORD_LETTERS[slot]

    def _append(
        self, owner: str, folder: Folder, wire: bytes, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> str:
        folder_dir = self._dir(owner, folder)
        data = local_form(wire)
        stamp = int(date.timestamp()) if date is not None else int(dt.datetime.now(dt.UTC).timestamp())
        info = self._info(folder_dir, flags, where)
        while True:
            unique = f"{stamp}.M{os.getpid()}Q{next(self._serial)}.ent-migrate,S={len(data)}"
            if not any((folder_dir / sub / f"{unique}{info}").exists() for sub in ("cur", "new", "tmp")):
                break
        tmp = folder_dir / "tmp" / unique
        with tmp.open("xb") as fh:
            fh.write(data)
            if self.options.durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.utime(tmp, (stamp, stamp))
        final = folder_dir / "cur" / f"{unique}{info}"
        os.replace(tmp, final)  # atomic: a kill leaves the message whole in cur/ or only in tmp/
        if self.options.durable:
            fsync_dir(folder_dir / "cur")
        return f"cur/{final.name}"

    def _set_flags(self, owner: str, folder: Folder, handle: str, flags: tuple[str, ...]) -> str:
        folder_dir = self._dir(owner, folder)
        old = folder_dir / handle
        base = old.name.rpartition(":2,")[0] or old.name
        new = folder_dir / "cur" / f"{base}{self._info(folder_dir, flags, handle)}"
        os.replace(old, new)
        if self.options.durable:
            fsync_dir(folder_dir / "cur")
        return f"cur/{new.name}"
