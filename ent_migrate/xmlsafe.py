"""Safe, streaming XML reading for untrusted exports (AAF, SIECLE/BEE, STS).

One entry point, :func:`iter_elements`::

    from ent_migrate.xmlsafe import iter_elements, where

    with path.open("rb") as fh:
        for element in iter_elements(fh, "Eleve_0000.xml", problems, tags={"addRequest", "modifyRequest"}):
            line = element.sourceline            # for "file:line" problems: where(name, element)
            ...                                  # read the element (and its children) here

What it guarantees:

* **Flat memory.** lxml's pull parser is fed 1 MiB chunks; each yielded element is cleared and its
  previous siblings are deleted as soon as the caller asks for the next one. Do not keep references
  to a yielded element (or its children) after that: copy the values you need. Do not ask for a tag
  *and* one of its descendants' tags: the descendant is yielded (then cleared) before its ancestor.
  Memory is bounded by the largest record plus one chunk, whatever the file size.
* **Nothing expanded, nothing fetched.** The parser runs with ``resolve_entities=False,
  no_network=True, load_dtd=False, huge_tree=False``. Before parsing, the prolog is sniffed: a
  DOCTYPE with an external identifier only (``<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">``)
  is accepted and never loaded; an internal subset (``[...]``) or any ``<!ENTITY`` is refused as
  ``xml.dtd-forbidden`` and nothing of the file is parsed (so billion-laughs and XXE never start).
* **Encodings.** Only ASCII-compatible encodings the ENT exports use are read: UTF-8, ISO-8859-15,
  ISO-8859-1, windows-1252, US-ASCII. Anything else, a declaration that lies (declared UTF-8 but the
  bytes are not; declared ISO-8859-* but the text is in fact UTF-8), or a UTF-16/32 BOM is refused
  as ``encoding.unsupported``. A UTF-8 BOM is accepted (and dropped) when the declaration is UTF-8
  or absent — SIECLE exports carry one; a UTF-8 BOM before a non-UTF-8 declaration is refused.
* **HTML entities.** AAF values may hold HTML-only named entities (``&eacute;``) that XML does not
  define. A streaming byte filter rewrites every HTML5 named entity into numeric character
  references (``&#233;``) before lxml sees it, which keeps line numbers and decodes exactly what
  entcore's HTML-unescaping does. A named entity neither XML nor HTML defines is kept as literal
  text (``&foo;`` is rewritten to ``&amp;foo;``) and reported as ``xml.entity-undefined`` — never
  silently dropped, as lxml would do behind a DOCTYPE. (The filter runs before parsing, so the same
  rewrite also applies inside CDATA sections and comments; ENT exports use neither for values.)
* **Malformed XML.** Everything yielded before the fault stays yielded; the fault is reported as
  ``xml.malformed`` at ``file:line`` (lxml's line) and iteration stops.

Problems are added to the caller's :class:`~ent_migrate.problems.Problems`; nothing raises for bad
input. Details never quote file content (positions and parser messages only).

Parsing is the readers' main cost, so an export is parsed once however many readers need it:
:class:`Spool` keeps the rows one pass extracted (a temporary file, flat memory) for the next readers,
and :func:`export_signature` tells when the files changed under it (then the spool is stale).
"""

from __future__ import annotations

import codecs
import html.entities
import os
import pickle
import re
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from ent_migrate.problems import Problems

__all__ = [
    "CHUNK_SIZE",
    "PROLOG_LIMIT",
    "SUPPORTED_ENCODINGS",
    "Spool",
    "export_signature",
    "iter_elements",
    "text_of",
    "where",
]

CHUNK_SIZE = 1 << 20
#: the prolog (declaration, comments, DOCTYPE) must end within this many bytes: a DOCTYPE hidden
#: behind megabytes of comments would otherwise escape the sniffing.
PROLOG_LIMIT = 1 << 20
#: codec names (as :func:`codecs.lookup` spells them) the exports are known to use; all are
#: ASCII-compatible, which the byte-level entity filter relies on.
SUPPORTED_ENCODINGS = frozenset({"utf-8", "iso8859-15", "iso8859-1", "cp1252", "ascii"})
_SINGLE_BYTE = SUPPORTED_ENCODINGS - {"utf-8", "ascii"}

_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
# HTML5 names with their ';' (the legacy no-semicolon forms are not entities in XML anyway).
_HTML_ENTITIES: dict[bytes, bytes] = {
    name[:-1].encode("ascii"): "".join(f"&#{ord(ch)};" for ch in text).encode("ascii")
    for name, text in html.entities.html5.items()
    if name.endswith(";")
}
# Any would-be entity name (XML names may hold non-ASCII letters): an undefined one must be caught here,
# since behind a DOCTYPE lxml would silently turn it into an empty node and lose that part of the value.
_ENTITY_RE = re.compile(rb"&([^\s&;<>#\"']{1,64});")
_MAX_ENTITY = 66  # "&" + 64 name bytes + ";": a longer "&..." tail is not an entity split by a chunk

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_DECL_RE = re.compile(rb"<\?xml\s[^>]*?\?>", re.S)
_ENCODING_RE = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_COMMENT_RE = re.compile(rb"<!--.*?-->", re.S)
_PI_RE = re.compile(rb"<\?.*?\?>", re.S)
# DOCTYPE name, then optional SYSTEM "x" / PUBLIC "x" "y", then either ">" or "[" (internal subset).
_DOCTYPE_RE = re.compile(
    rb"""<!DOCTYPE\s+[^\s>\[]+(?:\s+(?:SYSTEM\s+(?:"[^"]*"|'[^']*')|PUBLIC\s+(?:"[^"]*"|'[^']*')"""
    rb"""\s+(?:"[^"]*"|'[^']*')))?\s*([>\[])"""
)
_WS_RE = re.compile(rb"[ \t\r\n]+")
_HIGH_BYTE_RE = re.compile(rb"[\x80-\xff]")


def where(name: str, element: etree._Element | None = None, line: int | None = None) -> str:
    """``name:line`` for a problem, from an element's ``sourceline`` or an explicit line."""
    if line is None and element is not None:
        found = element.sourceline
        line = found if isinstance(found, int) else None  # lxml-stubs type it loosely
    return f"{name}:{line}" if line else name


def text_of(element: etree._Element | None) -> str:
    """The element's text ("" for ``<value/>``), tolerating the odd entity/comment child."""
    if element is None:
        return ""
    if len(element) == 0:  # the usual case, without itertext's overhead
        text = element.text
        return text if isinstance(text, str) else ""
    return "".join(t if isinstance(t, str) else t.decode() for t in element.itertext())


class _Refused(Exception):
    """Internal: the file is refused before or while parsing (code, line, detail)."""

    def __init__(self, code: str, line: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.line, self.detail = code, line, detail


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _sniff(head: bytes) -> tuple[int, str]:
    """Check the prolog in *head*; return (bytes to skip, codec name). Raises :class:`_Refused`."""
    skip = 0
    for bom, label in _BOMS:
        if head.startswith(bom):
            if label != "UTF-8":
                raise _Refused("encoding.unsupported", 1, f"{label} byte-order mark (only ASCII-compatible encodings)")
            skip = len(bom)
            break
    body = head[skip:]
    encoding = "utf-8"
    pos = 0
    decl = _DECL_RE.match(body)
    if decl is not None:
        found = _ENCODING_RE.search(decl.group(0))
        if found is not None:
            declared = found.group(1).decode("ascii")
            try:
                encoding = codecs.lookup(declared).name
            except LookupError:
                raise _Refused("encoding.unsupported", 1, f"unknown encoding {declared!r}") from None
            if encoding not in SUPPORTED_ENCODINGS:
                raise _Refused("encoding.unsupported", 1, f"encoding {declared!r} is not supported")
        pos = decl.end()
    if skip and encoding != "utf-8":
        raise _Refused("encoding.unsupported", 1, f"UTF-8 byte-order mark before an {encoding} declaration")
    if re.search(rb"<!ENTITY", body, re.I):
        line = _line_at(body, re.search(rb"<!ENTITY", body, re.I).start())  # type: ignore[union-attr]  # found above
        raise _Refused("xml.dtd-forbidden", line, "entity declaration")
    # Walk the prolog up to the root element: only whitespace, comments, PIs and one external DOCTYPE.
    while True:
        for pattern in (_WS_RE, _COMMENT_RE, _PI_RE):
            match = pattern.match(body, pos)
            if match is not None:
                pos = match.end()
                break
        else:
            if body.startswith(b"<!DOCTYPE", pos):
                doctype = _DOCTYPE_RE.match(body, pos)
                if doctype is None or doctype.group(1) == b"[":
                    raise _Refused("xml.dtd-forbidden", _line_at(body, pos), "DOCTYPE with an internal subset")
                pos = doctype.end()
                continue
            if len(head) >= PROLOG_LIMIT and not re.match(rb"<[A-Za-z_:]", body[pos : pos + 2]):
                # a comment, PI or DOCTYPE running past the sniffed head could hide entity declarations
                raise _Refused("xml.malformed", _line_at(body, pos), "prolog longer than the sniffing limit")
            return skip, encoding  # the root element (or garbage lxml will report) starts here


class _EntityFilter:
    """Rewrites HTML named entities to numeric references chunk by chunk, counting lines, and catches
    a single-byte declaration over UTF-8 text."""

    def __init__(self, name: str, problems: Problems, encoding: str) -> None:
        self.name, self.problems = name, problems
        self.line = 1  # line number at the start of the current chunk
        self._carry = b""
        self._check_utf8 = encoding in _SINGLE_BYTE

    def _replace(self, chunk: bytes) -> bytes:
        def substitute(match: re.Match[bytes]) -> bytes:
            entity = match.group(1)
            if entity in _XML_ENTITIES:
                return match.group(0)
            numeric = _HTML_ENTITIES.get(entity)
            if numeric is not None:
                return numeric
            line = self.line + chunk.count(b"\n", 0, match.start())
            self.problems.add("xml.entity-undefined", where(self.name, line=line), "kept as literal text")
            return b"&amp;" + match.group(0)[1:]

        return _ENTITY_RE.sub(substitute, chunk) if b"&" in chunk else chunk

    def _detect_lying_latin(self, chunk: bytes) -> None:
        # A single-byte declaration over UTF-8 text decodes into mojibake without any error: once the
        # first non-ASCII bytes appear, valid UTF-8 there means the declaration lies.
        found = _HIGH_BYTE_RE.search(chunk)  # a regex, not a Python loop over every byte of the chunk
        if found is None:
            return
        first = found.start()
        sample = chunk[first : first + 4096]
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":
                self._check_utf8 = False  # an invalid UTF-8 byte: genuinely single-byte text
                return
            if _HIGH_BYTE_RE.search(sample, 0, exc.start) is None:
                return  # only a sequence cut by the chunk end: decide on the next chunk
        self._check_utf8 = False
        raise _Refused(
            "encoding.unsupported", self.line + chunk.count(b"\n", 0, first), "declared single-byte, bytes are UTF-8"
        )

    def feed(self, data: bytes, final: bool) -> bytes:
        chunk = self._carry + data
        self._carry = b""
        if not final:
            amp = chunk.rfind(b"&")
            if amp != -1 and b";" not in chunk[amp:] and len(chunk) - amp < _MAX_ENTITY:
                chunk, self._carry = chunk[:amp], chunk[amp:]
        if self._check_utf8:
            self._detect_lying_latin(chunk)
        out = self._replace(chunk)
        self.line += chunk.count(b"\n")
        return out


def _syntax_code(exc: etree.XMLSyntaxError) -> str:
    message = str(exc).lower()
    return "encoding.unsupported" if "encoding" in message or "utf-8" in message else "xml.malformed"


def _short(exc: etree.XMLSyntaxError) -> str:
    # lxml appends ", line N, column M (<string>, line N)": the position is already in file:line.
    message = str(exc).split(", line ")[0]
    return message[:100]


def iter_elements(
    stream: IO[bytes],
    name: str,
    problems: Problems,
    tags: Collection[str] | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[etree._Element]:
    """Yield each element whose tag is in *tags* (all elements if None) at its end, then free it.

    *name* is how problems name the file (``name:line``). Stops early, after reporting the problem,
    on a refused prolog, a bad encoding or malformed XML; everything yielded before stays valid data.
    """
    head = stream.read(PROLOG_LIMIT)
    try:
        skip, encoding = _sniff(head)
    except _Refused as refused:
        problems.add(refused.code, where(name, line=refused.line), refused.detail)
        return
    parser = etree.XMLPullParser(
        events=("end",),
        tag=list(tags) if tags is not None else None,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    filt = _EntityFilter(name, problems, encoding)
    pending = head[skip:]
    data, pending = pending[:chunk_size], pending[chunk_size:]
    try:
        while True:
            final = not data
            parser.feed(filt.feed(data, final))
            if final:
                parser.close()
            yield from _drain(parser)
            if final:
                break
            if pending:  # the sniffed head is fed chunk by chunk too: the tree never holds more than a chunk
                data, pending = pending[:chunk_size], pending[chunk_size:]
            else:
                data = stream.read(chunk_size)
    except _Refused as refused:
        problems.add(refused.code, where(name, line=refused.line), refused.detail)
    except etree.XMLSyntaxError as exc:
        yield from _drain(parser)  # events completed before the fault are good data
        line = exc.lineno if exc.lineno and exc.lineno > 0 else filt.line
        problems.add(_syntax_code(exc), where(name, line=line), _short(exc))


def _drain(parser: etree.XMLPullParser) -> Iterator[etree._Element]:
    for _event, element in parser.read_events():
        if not isinstance(element, etree._Element):  # only "end" events are asked for: always elements
            continue
        yield element
        # Free what the caller has read: the element's content and the siblings before it.
        element.clear(keep_tail=False)  # type: ignore[call-arg]  # lxml-stubs lack keep_tail (lxml >= 4.4)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


class Spool:
    """Rows (tuples of plain values) one streaming pass saves for a later pass to stream back, so an
    export is parsed once however many readers need what it holds, and memory stays flat: only one
    batch of rows is in memory at a time, the rest is in an anonymous temporary file.

    The file has no name on disk (deleted when closed or garbage-collected) and only this process
    writes it, which is why unpickling it is safe. Iterate as often as needed once the writing is
    over; each iteration seeks before every batch, so two iterations may interleave.
    """

    __slots__ = ("_batch", "_count", "_file", "_size", "_spans")

    #: rows pickled together: large enough to amortise pickling, small enough to keep memory flat
    BATCH = 1024

    def __init__(self) -> None:
        # SIM115: the file lives as long as the spool, which close() (or garbage collection) ends
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="ent-migrate-spool-")  # noqa: SIM115
        self._batch: list[tuple[Any, ...]] = []
        self._spans: list[tuple[int, int]] = []  # (offset, length) of each pickled batch
        self._size = 0
        self._count = 0

    def append(self, row: tuple[Any, ...]) -> None:
        self._batch.append(row)
        self._count += 1
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        data = pickle.dumps(self._batch, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(self._size)
        self._file.write(data)
        self._spans.append((self._size, len(data)))
        self._size += len(data)
        self._batch = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        self._flush()
        for offset, length in list(self._spans):
            self._file.seek(offset)
            # S301: bytes this object pickled into a nameless file only this process can reach
            rows: list[tuple[Any, ...]] = pickle.loads(self._file.read(length))  # noqa: S301
            yield from rows

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._batch = []
        self._file.close()


def export_signature(path: Path) -> tuple[object, ...]:
    """Name, size, modification time and inode of every file of an export (a folder, or one archive or
    XML file): what a :class:`Spool` of it was read from; once this changes, the spool is stale."""
    try:
        if not path.is_dir():
            st = path.stat()
            return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        found: list[tuple[str, int, int, int]] = []
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                st = os.stat(full, follow_symlinks=False)
                found.append((full, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(found)
    except OSError:
        return (object(),)  # unreadable: equal to no other signature, so never served from a spool
