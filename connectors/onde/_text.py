"""Line-by-line decoding and CSV splitting of ONDE/BE1D extractions, and the name normalisation
used to link guardians to pupils.

ONDE files come as UTF-8 (with or without BOM) or as a Windows 8-bit encoding. The encoding is
decided by one streaming pre-scan of the bytes (never the whole file in memory):

* a UTF-8 BOM, or at least one line with valid non-ASCII UTF-8 → UTF-8; lines that are not valid
  UTF-8 are then reported (``encoding.unsupported``) and skipped, because decoding them as Latin
  text would silently garble names;
* otherwise bytes 0x80–0x9F present → cp1252 (Windows, which puts œ, Œ, ’, € there);
* otherwise ISO-8859-15.

Bytes that no candidate encoding defines (NUL, cp1252 holes) make their line unreadable: it is
reported with its ``file:line`` and skipped.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BadLine", "CsvRow", "detect_encoding", "iter_rows", "norm_header", "norm_name"]

_CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")
_C1 = frozenset(range(0x80, 0xA0))
_APOSTROPHES = re.compile(r"[’'`´ʼ‘\-‐‑–]")
_SPACES = re.compile(r"\s+")


def norm_name(text: str) -> str:
    """Case-, accent-, apostrophe-, hyphen- and space-insensitive form of a name or class label.

    ``"O'Brien"``, ``"O BRIEN"`` and ``"o’brien"`` are equal; ``"Élise"`` equals ``"ELISE"``.
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFC", text))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = _APOSTROPHES.sub(" ", stripped.casefold())
    return _SPACES.sub(" ", stripped).strip()


def norm_header(text: str) -> str:
    """A header cell in the form the header tables use (handles the leading space of " Cycle")."""
    return norm_name(text.lstrip("\ufeff")).replace(" ", "")


def detect_encoding(path: Path) -> str:
    """Pick the file's encoding with one streaming pass (see the module docstring)."""
    saw_utf8 = False
    saw_c1 = False
    with path.open("rb") as fh:
        head = fh.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        fh.seek(0)
        for raw in fh:
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                saw_c1 = saw_c1 or any(b in _C1 for b in raw)
            else:
                saw_utf8 = True
    if saw_utf8:
        return "utf-8"
    return "cp1252" if saw_c1 else "iso-8859-15"


@dataclasses.dataclass(frozen=True, slots=True)
class BadLine:
    """A physical line that could not be decoded."""

    line: int


@dataclasses.dataclass(frozen=True, slots=True)
class CsvRow:
    """One CSV record and the physical line it starts on."""

    line: int
    cells: list[str]


def _decode_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None]]:
    """(line number, text or None when undecodable), line by line."""
    bom_pending = encoding == "utf-8-sig"
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if bom_pending:
                raw = raw.removeprefix(codecs.BOM_UTF8)
                bom_pending = False
            if b"\x00" in raw or (encoding == "cp1252" and any(b in _CP1252_HOLES for b in raw)):
                yield number, None
                continue
            try:
                yield number, raw.decode("utf-8" if encoding == "utf-8-sig" else encoding)
            except UnicodeDecodeError:
                yield number, None


def iter_rows(path: Path, encoding: str | None = None) -> Iterator[CsvRow | BadLine]:
    """The file's CSV records (``;``-separated, ``"``-quoted, CRLF or LF), each with its line, and a
    :class:`BadLine` for each line that cannot be decoded. Stream: one record in memory at a time."""
    enc = encoding or detect_encoding(path)
    bad: list[int] = []
    # Physical line number of each text line handed to the csv module, so that a record can be
    # placed on its first physical line even when undecodable lines were skipped before it.
    physical: list[int] = []

    def text_lines() -> Iterator[str]:
        for number, text in _decode_lines(path, enc):
            if text is None:
                bad.append(number)
                continue
            physical.append(number)
            yield text

    reader = csv.reader(text_lines(), delimiter=";", quotechar='"')
    dropped = 0  # text lines already forgotten from ``physical``
    for cells in reader:
        start = physical[0] if physical else 0
        # Forget the positions of this record's lines: only the current record's stay in memory.
        del physical[: reader.line_num - dropped]
        dropped = reader.line_num
        while bad:
            yield BadLine(bad.pop(0))
        if not cells or all(not c.strip() for c in cells):
            continue
        yield CsvRow(start, cells)
    while bad:
        yield BadLine(bad.pop(0))
