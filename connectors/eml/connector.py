"""The ``eml`` connector: folders of ``.eml`` files, one RFC 5322 message per file, both ways.

Location: ``eml:/path/to/root``; folder ``A/B`` of an owner is the directory ``root/<owner>/A/B/`` (the
owner directory is the owner id percent-encoded) and every ``*.eml`` file in it is a message, read in
name order. The internal date is the file's mtime; EML has no place for flags, so a target does not
carry them. A target writes ``<sha256>.eml`` (``<sha256>.<n>.eml`` for further exact copies) through a
temporary file and a rename, so a kill never leaves half a message. The message bytes are their wire
form (CRLF), as for every mail connector.

Options: :class:`EmlOptions`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from typing import ClassVar

from ent_migrate.connectors._mail import (
    FileTreeMailConnector,
    Folder,
    Stored,
    fsync_dir,
)
from ent_migrate.contract import ConnectorOptions
from ent_migrate.errors import TerminalError
from ent_migrate.mail import role_for_name, sha256_hex, wire_form
from ent_migrate.options import option

__all__ = ["EmlConnector", "EmlOptions"]


@dataclasses.dataclass(frozen=True, slots=True)
class EmlOptions(ConnectorOptions):
    durable: bool = option(True, "fsync every message written, so it survives a crash")


class EmlConnector(FileTreeMailConnector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "eml"
    summary: ClassVar[str] = "Folders of .eml files (one message per file), per owner."
    location_help: ClassVar[str] = "eml:/path/to/root (root/<owner>/<folder>/*.eml)"
    max_concurrency: ClassVar[int] = 1
    Options: ClassVar[type[ConnectorOptions]] = EmlOptions
    carries_flags: ClassVar[bool] = False

    options: EmlOptions

    # -- store ---------------------------------------------------------------------------------
    def _list_folders(self, owner: str) -> list[Folder]:
        base = self._owner_root(owner)
        if not base.is_dir():
            return []
        out = []
        for path in sorted(p for p in base.rglob("*") if p.is_dir()):
            relative = path.relative_to(base).as_posix()
            role = role_for_name(relative) if "/" not in relative else None
            out.append(Folder(relative, relative, role))
        return out

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        folder_dir = self._owner_root(owner) / folder.native
        for path in sorted(folder_dir.glob("*.eml")):
            if not path.is_file():
                continue
            date = dt.datetime.fromtimestamp(int(path.stat().st_mtime), dt.UTC)
            yield Stored(path.name, wire_form(path.read_bytes()), (), date)

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        try:
            return wire_form((self._owner_root(owner) / folder.native / handle).read_bytes())
        except FileNotFoundError:
            raise TerminalError("the message file is gone (renamed or deleted since it was read)") from None

    def _create_folder(self, owner: str, path: str, role: str | None) -> Folder:
        if any(s in ("", ".", "..") for s in path.split("/")):
            raise TerminalError("an EML folder name cannot have an empty, '.' or '..' part")
        folder_dir = self._owner_root(owner) / path
        folder_dir.mkdir(parents=True, exist_ok=True)
        if self.options.durable:
            fsync_dir(folder_dir.parent)
        return Folder(path, path, role)

    def _append(
        self, owner: str, folder: Folder, wire: bytes, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> str:
        folder_dir = self._owner_root(owner) / folder.native
        digest = sha256_hex(wire)
        name, n = f"{digest}.eml", 1
        while (folder_dir / name).exists():
            n += 1
            name = f"{digest}.{n}.eml"
        tmp = folder_dir / f".{name}.tmp"
        with tmp.open("wb") as fh:
            fh.write(wire)
            if self.options.durable:
                fh.flush()
                os.fsync(fh.fileno())
        if date is not None:
            os.utime(tmp, (date.timestamp(), date.timestamp()))
        os.replace(tmp, folder_dir / name)
        if self.options.durable:
            fsync_dir(folder_dir)
        return name
