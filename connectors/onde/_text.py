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

Lines end with CRLF, LF or a bare CR (old Mac exports, or files edited on several systems): all three
are line ends, so a mixed file reads like a clean one. Hostile sizes are bounded, never allocated: a
physical line over :data:`MAX_LINE_BYTES` and a cell over :data:`MAX_CELL_CHARS` make their record a
:class:`BadLine` (reported, skipped) and the rest of the file is read.
"""

from __future__ import annotations

import codecs
import collections
import csv
import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_LINE_BYTES",
    "BadLine",
    "CsvRow",
    "detect_encoding",
    "iter_rows",
    "norm_header",
    "norm_name",
]

#: the longest cell read (the csv module's own field limit, left at its default: it is process-wide)
MAX_CELL_CHARS = csv.field_size_limit()
#: the longest physical line read; a real ONDE line is a few hundred bytes
MAX_LINE_BYTES = 1 << 20
_CHUNK = 1 << 16
_EOL = re.compile(rb"\r\n|\r|\n")

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


def _physical_lines(fh: IO[bytes], chunk_size: int = _CHUNK) -> Iterator[bytes | None]:
    """Each physical line of *fh* without its end (CRLF, LF or CR), or None for a line over
    :data:`MAX_LINE_BYTES`, whose bytes are skipped, never kept."""
    buf = b""
    too_long = False
    while True:
        chunk = fh.read(chunk_size)
        final = not chunk
        data = buf + chunk
        hold = b""
        if not final and data.endswith(b"\r"):  # maybe the first half of a CRLF split by the chunk
            data, hold = data[:-1], b"\r"
        start = 0
        for match in _EOL.finditer(data):
            line = data[start : match.start()]
            start = match.end()
            yield None if too_long or len(line) > MAX_LINE_BYTES else line
            too_long = False
        rest = data[start:]
        if final:
            if too_long or rest:
                yield None if too_long or len(rest) > MAX_LINE_BYTES else rest
            return
        if too_long or len(rest) > MAX_LINE_BYTES:
            too_long, rest = True, b""
        buf = rest + hold


def detect_encoding(path: Path) -> str:
    """Pick the file's encoding with one streaming pass (see the module docstring)."""
    saw_utf8 = False
    saw_c1 = False
    with path.open("rb") as fh:
        head = fh.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        fh.seek(0)
        for raw in _physical_lines(fh):
            if raw is None or raw.isascii():
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
    """A line, or the record starting on it, that could not be read: ``reason`` is ``encoding`` (bytes
    not in the file's encoding), ``line-size`` (a line over the cap), ``cell-size`` (a cell over the
    cap), ``quote`` (a quote left open swallowed the next lines, which are read again) or ``csv`` (not
    a CSV record)."""

    line: int
    reason: str = "encoding"


@dataclasses.dataclass(frozen=True, slots=True)
class CsvRow:
    """One CSV record and the physical line it starts on."""

    line: int
    cells: list[str]


def _decode_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | BadLine]]:
    """(line number, its text or why it cannot be read), line by line."""
    bom_pending = encoding == "utf-8-sig"
    with path.open("rb") as fh:
        for number, raw in enumerate(_physical_lines(fh), start=1):
            if raw is None:
                yield number, BadLine(number, "line-size")
                continue
            if bom_pending:
                raw = raw.removeprefix(codecs.BOM_UTF8)
                bom_pending = False
            if b"\x00" in raw or (encoding == "cp1252" and any(b in _CP1252_HOLES for b in raw)):
                yield number, BadLine(number)
                continue
            try:
                yield number, raw.decode("utf-8" if encoding == "utf-8-sig" else encoding) + "\n"
            except UnicodeDecodeError:
                yield number, BadLine(number)


def iter_rows(path: Path, encoding: str | None = None) -> Iterator[CsvRow | BadLine]:
    """The file's CSV records (``;``-separated, ``"``-quoted, any line ends), each with its first line,
    and a :class:`BadLine` for each line or record that cannot be read. Stream: one record in memory."""
    enc = encoding or detect_encoding(path)
    lines = _decode_lines(path, enc)
    bad: list[BadLine] = []
    # The text lines of the record being read, with their physical numbers: a record is placed on its
    # first line even when undecodable lines were skipped before it, and a record that fails is re-read
    # from its second line (below). Bounded: a record holds at most a cell cap of text, plus a line.
    current: list[tuple[int, str]] = []
    again: collections.deque[tuple[int, str]] = collections.deque()
    suspect = False  # since a record failed, until one reads clean: what follows may be inside a cell
    width = 0  # cells of the first record (the header)

    class TextLines:
        """The csv module's input: lines to read again first, then the file's. Not a generator: it may
        be asked again after it once said "no more" (a last record that swallowed lines gives them back)."""

        def __iter__(self) -> TextLines:
            return self

        def __next__(self) -> str:
            while True:
                if again:
                    number, text = again.popleft()
                else:
                    item = next(lines, None)
                    if item is None:
                        raise StopIteration
                    number, decoded = item
                    if isinstance(decoded, BadLine):
                        bad.append(decoded)
                        continue
                    text = decoded
                current.append((number, text))
                return text

    reader = csv.reader(TextLines(), delimiter=";", quotechar='"')
    while True:
        failed: str | None = None
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader starts a new record with the next line after an error
            failed = "cell-size" if "field limit" in str(exc) else "csv"
            cells = []
        start = current[0][0] if current else 0
        if failed is None and len(current) > 1 and any("\n" in cell and ";" in cell for cell in cells):
            failed = "quote"  # a quote left open ran through the next lines, to a later quote or the end
        if failed is None and suspect:
            # After a failure, a record may be the inside of a huge quoted cell rather than a line a stray
            # quote swallowed: until one has the header's width and no stray '"', none is taken as a record.
            if len(cells) != width or any('"' in cell for cell in cells):
                failed = "csv"
            else:
                suspect = False
        if failed is not None:
            suspect = True
        if failed is not None and len(current) > 1:
            # A quote left open on the first line swallowed the next ones into one cell: only that first
            # line is the bad record; the lines after it are read again, as records of their own.
            again.extendleft(reversed(current[1:]))
        current.clear()
        while bad:
            yield bad.pop(0)
        if failed is not None:
            yield BadLine(start, failed)
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        width = width or len(cells)
        yield CsvRow(start, cells)
    while bad:
        yield bad.pop(0)
