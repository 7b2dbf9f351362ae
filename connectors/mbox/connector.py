"""The ``mbox`` connector: one mbox file per folder (RFC 4155), read in any variant, written as mboxrd.

Location: ``mbox:/path/to/root``; folder ``A/B`` of an owner is ``root/<owner>/A/B.mbox`` (the owner
directory is the owner id percent-encoded). Reading understands the four variants (option ``variant``):
``mboxo`` and ``mboxrd`` split at ``From `` lines and unquote ``>From `` (mboxrd: any depth of ``>``),
``mboxcl`` and ``mboxcl2`` trust ``Content-Length`` (mboxcl also unquotes). A target is always written
as mboxrd, byte-faithfully: every line matching ``>*From `` gains one ``>`` and each message is followed
by exactly one newline, so reading gives back the exact bytes. The internal date is the ``From `` line's
(UTC, as writers put it); flags come from ``Status``/``X-Status``/``X-Keywords`` when a source has them,
but a target never adds those headers (the bytes would change), so flags are not carried by a target.

An append is crash-safe: its starting offset is written to ``<file>.ent-migrate-append`` first, and the
next writer cuts a torn tail back to it.

Options: :class:`MboxOptions`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from ent_migrate.connectors._mail import (
    FileTreeMailConnector,
    Folder,
    Stored,
    fsync_dir,
    place_of,
)
from ent_migrate.contract import ConnectorOptions, Role
from ent_migrate.errors import ConfigError, TerminalError
from ent_migrate.mail import header_block, local_form, role_for_name, wire_form
from ent_migrate.options import option

__all__ = ["MboxConnector", "MboxOptions"]

VARIANTS = ("mboxo", "mboxrd", "mboxcl", "mboxcl2")
_SUFFIX = ".mbox"
_QUOTED_RD = re.compile(rb"^>+From ")
_QUOTED_O = re.compile(rb"^>From ")
_NEEDS_QUOTE = re.compile(rb"^>*From ")
_FROM_DATE = re.compile(rb"^From \S*\s+(.*?)\s*$")
_STATUS = {"R": "\\Seen"}
_X_STATUS = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}


@dataclasses.dataclass(frozen=True, slots=True)
class MboxOptions(ConnectorOptions):
    variant: str = option("mboxrd", "how a source's files are delimited: mboxo, mboxrd, mboxcl or mboxcl2")
    durable: bool = option(True, "fsync every message written, so it survives a crash")

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"option variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")


def _from_date(line: bytes) -> dt.datetime | None:
    match = _FROM_DATE.match(line.rstrip(b"\r\n"))
    if not match:
        return None
    text = " ".join(match.group(1).decode("ascii", "replace").split())
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S %z %Y"):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _flags(raw: bytes) -> tuple[str, ...]:
    headers, _ = header_block(raw)
    out: list[str] = []
    for line in headers.split(b"\n"):
        name, _, value = line.partition(b":")
        key, text = name.strip().lower(), value.decode("latin-1").strip()
        if key == b"status":
            out.extend(_STATUS[c] for c in text if c in _STATUS)
        elif key == b"x-status":
            out.extend(_X_STATUS[c] for c in text if c in _X_STATUS)
        elif key == b"x-keywords":
            out.extend(w for w in re.split(r"[\s,]+", text) if w)
    return tuple(out)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


class MboxConnector(FileTreeMailConnector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "mbox"
    summary: ClassVar[str] = "mbox files per folder: reads mboxo/mboxrd/mboxcl/mboxcl2, writes mboxrd byte-faithfully."
    location_help: ClassVar[str] = "mbox:/path/to/root (root/<owner>/<folder>.mbox)"
    max_concurrency: ClassVar[int] = 1
    Options: ClassVar[type[ConnectorOptions]] = MboxOptions
    carries_flags: ClassVar[bool] = False

    options: MboxOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if role is Role.TARGET and self.options.variant != "mboxrd":
            raise ConfigError(f"{where or 'mbox options'}: a target is always written as mboxrd; drop option variant")
        self.variant = self.options.variant

    # -- store ---------------------------------------------------------------------------------
    def _list_folders(self, owner: str) -> list[Folder]:
        base = self._owner_root(owner)
        if not base.is_dir():
            return []
        out = []
        for path in sorted(base.rglob(f"*{_SUFFIX}")):
            if not path.is_file():
                continue
            relative = path.relative_to(base).as_posix()[: -len(_SUFFIX)]
            role = role_for_name(relative) if "/" not in relative else None
            out.append(Folder(relative, relative, role))
        return out

    def _file(self, owner: str, folder: Folder) -> Path:
        return self._owner_root(owner) / f"{folder.native}{_SUFFIX}"

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        path = self._file(owner, folder)
        where = f"{place_of(owner)}/{folder.native}{_SUFFIX}"
        self._heal(path)  # only a file this connector was appending to when it was killed has a marker
        with path.open("rb") as fh:
            for offset, line, raw in self._split(fh, where):
                yield Stored(str(offset), wire_form(raw), _flags(raw), _from_date(line))

    def _split(self, fh: BinaryIO, where: str, *, report: bool = True) -> Iterator[tuple[int, bytes, bytes]]:
        """(offset of the From line, the From line, the message bytes) for each message of the file;
        problems are reported with the line they start on (not again when one message is fetched)."""
        problem = self.problems.add if report else (lambda *args: None)
        by_length = self.variant in ("mboxcl", "mboxcl2")
        unquote = {"mboxrd": _QUOTED_RD, "mboxo": _QUOTED_O, "mboxcl": _QUOTED_O}.get(self.variant)
        offset, line_no = 0, 0
        start: tuple[int, bytes] | None = None
        lines: list[bytes] = []

        def done() -> Iterator[tuple[int, bytes, bytes]]:
            if start is None:
                return
            raw = b"".join(lines)
            # The writer ends every message with one newline of its own: take it off again.
            yield start[0], start[1], raw[:-1] if raw.endswith(b"\n") else raw

        while True:
            line = fh.readline()
            if not line:
                break
            line_no += 1
            if line.startswith(b"From "):
                yield from done()
                start, lines = (offset, line), []
                offset += len(line)
                if by_length:
                    head = self._head(fh)
                    length = _content_length(head)
                    if length is None:
                        problem("mail.malformed", f"{where}:{line_no}", "no Content-Length")
                        lines.append(head)
                        offset += len(head)
                        line_no += head.count(b"\n")
                        continue
                    body = fh.read(length)
                    rest = fh.readline()  # the separating newline
                    if len(body) < length or rest not in (b"\n", b"\r\n", b""):
                        problem("mail.malformed", f"{where}:{line_no}", "Content-Length does not match")
                    offset += len(head) + len(body) + len(rest)
                    line_no += head.count(b"\n") + body.count(b"\n") + rest.count(b"\n")
                    if unquote is not None:  # mboxcl: the length counts the quoted body
                        body = b"".join(b[1:] if unquote.match(b) else b for b in body.splitlines(keepends=True))
                    lines.extend([head, body, rest])
                continue
            offset += len(line)
            if start is None:
                if line.strip():
                    problem("mail.malformed", f"{where}:{line_no}", "text before the first From line")
                continue
            if unquote is not None and unquote.match(line):
                line = line[1:]
            lines.append(line)
        yield from done()

    @staticmethod
    def _head(fh: BinaryIO) -> bytes:
        parts = []
        while True:
            line = fh.readline()
            parts.append(line)
            if not line or line in (b"\n", b"\r\n"):
                return b"".join(parts)

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        path = self._file(owner, folder)
        where = f"{place_of(owner)}/{folder.native}{_SUFFIX}"
        with path.open("rb") as fh:
            fh.seek(int(handle))
            for offset, _, raw in self._split(fh, where, report=False):
                if offset == 0:  # offsets in _split are relative to where it started
                    return wire_form(raw)
                break
        raise TerminalError("the message is no longer at its place in the mbox file")

    def _create_folder(self, owner: str, path: str, role: str | None) -> Folder:
        segments = path.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise TerminalError("an mbox folder name cannot have an empty, '.' or '..' part")
        file = self._owner_root(owner) / f"{path}{_SUFFIX}"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
        if self.options.durable:
            fsync_dir(file.parent)
        return Folder(path, path, role)

    def _append(
        self, owner: str, folder: Folder, wire: bytes, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> str:
        path = self._file(owner, folder)
        self._heal(path)
        when = date or dt.datetime.fromtimestamp(0, dt.UTC)
        lines = local_form(wire).split(b"\n")
        body = b"\n".join(b">" + line if _NEEDS_QUOTE.match(line) else line for line in lines)
        data = b"From MAILER-DAEMON " + when.astimezone(dt.UTC).strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n"
        data += body + b"\n"
        start = path.stat().st_size
        marker = path.with_name(path.name + ".ent-migrate-append")
        marker.write_text(str(start))
        with path.open("ab") as fh:
            fh.write(data)
            if self.options.durable:
                fh.flush()
                os.fsync(fh.fileno())
        marker.unlink()
        return str(start)

    def _heal(self, path: Path) -> None:
        """Cut the tail an append killed midway left (its start is in the marker file)."""
        marker = path.with_name(path.name + ".ent-migrate-append")
        if marker.exists():
            start = int(marker.read_text() or "0")
            with path.open("r+b") as fh:
                fh.truncate(start)
            marker.unlink()
