"""The byte-level half of :mod:`ent_migrate.xmlsafe`: what is decided before lxml sees a byte.

* :func:`sniff_prolog` checks a file's first bytes (the prolog: declaration, comments, DOCTYPE) and
  finds its root element. It refuses, with a problem code, a DOCTYPE with an internal subset or an
  ``<!ENTITY`` (``xml.dtd-forbidden``), an encoding the exports do not use, a UTF-16/32 file with or
  without a byte-order mark (``encoding.unsupported``: libxml2 would detect ``<\\0?\\0`` by itself and
  the ASCII sniffing would see nothing), an empty file or one without a root element, and a prolog
  longer than the sniffed head (``xml.malformed``). A wide (UTF-16/32) file's prolog is transcoded and
  checked too, so a DOCTYPE smuggled in UTF-16 is reported as what it is.
* :class:`ByteFilter` rewrites HTML named entities into numeric references chunk by chunk (counting
  lines), and watches a single-byte file for UTF-8: a declaration that lies (the first non-ASCII text is
  UTF-8 and nothing around it is Latin) is ``encoding.unsupported``; valid multi-byte UTF-8 runs in a
  genuinely Latin file are ``encoding.mixed`` (a warning per line: the text is kept as declared).

Readers other than :func:`~ent_migrate.xmlsafe.iter_elements` (the SIECLE file discovery) call
:func:`sniff_prolog` to classify a file by its root and report a refused prolog with the same codes.
"""

from __future__ import annotations

import codecs
import dataclasses
import html.entities
import re
from collections.abc import Callable

__all__ = [
    "PROLOG_LIMIT",
    "SUPPORTED_ENCODINGS",
    "ByteFilter",
    "Prolog",
    "Refused",
    "Report",
    "sniff_prolog",
]

#: the prolog (declaration, comments, DOCTYPE) must end within this many bytes: a DOCTYPE hidden
#: behind megabytes of comments would otherwise escape the sniffing.
PROLOG_LIMIT = 1 << 20
#: codec names (as :func:`codecs.lookup` spells them) the exports are known to use; all are
#: ASCII-compatible, which the byte-level entity filter relies on.
SUPPORTED_ENCODINGS = frozenset({"utf-8", "iso8859-15", "iso8859-1", "cp1252", "ascii"})
_SINGLE_BYTE = SUPPORTED_ENCODINGS - {"utf-8", "ascii"}

#: ``report(code, where, detail)``: :meth:`Problems.add <ent_migrate.problems.Problems.add>` fits
Report = Callable[[str, str, str | None], object]

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
    (codecs.BOM_UTF32_LE, "UTF-32", "utf-32-le"),
    (codecs.BOM_UTF32_BE, "UTF-32", "utf-32-be"),
    (codecs.BOM_UTF8, "UTF-8", "utf-8"),
    (codecs.BOM_UTF16_LE, "UTF-16", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "UTF-16", "utf-16-be"),
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
_ENTITY_DECL_RE = re.compile(rb"<!ENTITY", re.I)
_WS_RE = re.compile(rb"[ \t\r\n]+")
_ROOT_RE = re.compile(rb"<([A-Za-z_:\x80-\xff][-A-Za-z0-9._:\x80-\xff]{0,199})")
# A maximal run of well-formed multi-byte UTF-8 sequences (not touching other high bytes): in a
# Latin-9 file, "Ã©" is the tell-tale of UTF-8 text pasted into it.
#: every byte but the UTF-8 continuation bytes, for bytes.translate's fast "is any there?"
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b <= 0xBF)
_UTF8_RUN_RE = re.compile(
    rb"(?<![\x80-\xff])(?:[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})+(?![\x80-\xff])"
)


class Refused(Exception):
    """A file refused before or while parsing: problem code, line, detail (never file content)."""

    def __init__(self, code: str, line: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.line, self.detail = code, line, detail


@dataclasses.dataclass(frozen=True, slots=True)
class Prolog:
    """What :func:`sniff_prolog` found: bytes to skip (a UTF-8 BOM), the codec, the root element's name."""

    skip: int
    encoding: str
    root: str


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _wide(head: bytes) -> tuple[str, str, int] | None:
    """(label, codec, bytes to skip) of a UTF-16/32 file, by its byte-order mark or, without one, by the
    NUL pattern of its first ASCII characters (the XML spec's appendix F detection, as libxml2 does)."""
    for bom, label, codec in _BOMS:
        if head.startswith(bom):
            return None if label == "UTF-8" else (label, codec, len(bom))
    first = head[:4]
    if len(first) < 2 or b"\x00" not in first:
        return None
    if first[:3] == b"\x00\x00\x00" or (len(first) == 4 and first[1:] == b"\x00\x00\x00"):
        return "UTF-32", "utf-32-be" if first[0] == 0 else "utf-32-le", 0
    return "UTF-16", "utf-16-be" if first[0] == 0 else "utf-16-le", 0


def _walk(body: bytes, pos: int, limited: bool) -> int:
    """Walk the prolog from *pos* to the root element: only whitespace, comments, PIs and one DOCTYPE
    without an internal subset. Return where the root starts; raise :class:`Refused` otherwise."""
    found = _ENTITY_DECL_RE.search(body)
    if found is not None:
        raise Refused("xml.dtd-forbidden", _line_at(body, found.start()), "entity declaration")
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
                    raise Refused("xml.dtd-forbidden", _line_at(body, pos), "DOCTYPE with an internal subset")
                pos = doctype.end()
                continue
            if re.match(rb"<[^\s!?<>]", body[pos : pos + 2]):
                return pos  # the root element starts here
            if limited:
                # a comment, PI or DOCTYPE running past the sniffed head could hide entity declarations
                raise Refused("xml.malformed", _line_at(body, pos), "prolog longer than the sniffing limit")
            if pos >= len(body.rstrip()):
                raise Refused("xml.malformed", _line_at(body, pos), "no root element (empty file)")
            raise Refused("xml.malformed", _line_at(body, pos), "no root element")


def _sniff(head: bytes, limit: int) -> Prolog:
    limited = len(head) >= limit  # the head may not hold the whole prolog
    wide = _wide(head)
    if wide is not None:
        label, codec, skip = wide
        # Same DOCTYPE/entity policy whatever the encoding: a DOCTYPE in UTF-16 is reported as such.
        text = head[skip:].decode(codec, "replace").encode("utf-8")  # a cut last character is replaced
        try:
            _walk(text, 0, limited)
        except Refused as refused:
            if refused.code == "xml.dtd-forbidden":
                raise
        mark = "byte-order mark" if skip else "without a byte-order mark"
        raise Refused("encoding.unsupported", 1, f"{label} {mark} (only ASCII-compatible encodings are read)")
    skip = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
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
                raise Refused("encoding.unsupported", 1, f"unknown encoding {declared!r}") from None
            if encoding not in SUPPORTED_ENCODINGS:
                raise Refused("encoding.unsupported", 1, f"encoding {declared!r} is not supported")
        pos = decl.end()
    if skip and encoding != "utf-8":
        raise Refused("encoding.unsupported", 1, f"UTF-8 byte-order mark before an {encoding} declaration")
    pos = _walk(body, pos, limited)
    match = _ROOT_RE.match(body, pos)
    name = match.group(1).decode(encoding, "replace") if match else ""
    return Prolog(skip, encoding, name)


def sniff_prolog(head: bytes, name: str, report: Report, *, limit: int = PROLOG_LIMIT) -> Prolog | None:
    """Check the prolog in *head* — the first *limit* bytes of the file, or all of it when shorter.

    Returns the :class:`Prolog`, or None after reporting ``name:line`` to *report* (``problems.add``
    fits) when the file is refused: nothing of it must then be parsed.
    """
    try:
        return _sniff(head, limit)
    except Refused as refused:
        report(refused.code, f"{name}:{refused.line}", refused.detail)
        return None


class ByteFilter:
    """Rewrites HTML named entities to numeric references chunk by chunk, counting lines, and watches a
    single-byte file for UTF-8 text (see the module docstring)."""

    def __init__(self, name: str, report: Report, encoding: str) -> None:
        self.name, self.report = name, report
        self.line = 1  # line number at the start of the current chunk
        self._carry = b""
        single = encoding in _SINGLE_BYTE
        self._undecided = single  # no non-ASCII text seen yet: is the declaration true?
        self._latin = False  # genuinely single-byte: look for UTF-8 runs (encoding.mixed)
        self._mixed_line = 0  # the last line reported as encoding.mixed

    def _replace(self, chunk: bytes) -> bytes:
        def substitute(match: re.Match[bytes]) -> bytes:
            entity = match.group(1)
            if entity in _XML_ENTITIES:
                return match.group(0)
            numeric = _HTML_ENTITIES.get(entity)
            if numeric is not None:
                return numeric
            line = self.line + chunk.count(b"\n", 0, match.start())
            self.report("xml.entity-undefined", f"{self.name}:{line}", "kept as literal text")
            return b"&amp;" + match.group(0)[1:]

        return _ENTITY_RE.sub(substitute, chunk) if b"&" in chunk else chunk

    def _decide(self, chunk: bytes) -> None:
        # A single-byte declaration over UTF-8 text decodes into mojibake without any error: when the
        # first non-ASCII bytes are valid UTF-8 and so is every other non-ASCII byte of the chunk, the
        # declaration lies (the file is refused from there); any genuine Latin byte makes it a Latin file.
        try:  # the ASCII codec finds the first non-ASCII byte in C, far faster than a regex search
            chunk.decode("ascii")
            return
        except UnicodeDecodeError as exc:
            first = exc.start
        self._undecided = False
        try:
            chunk[first:].decode("utf-8")
        except UnicodeDecodeError:
            self._latin = True
            return
        line = self.line + chunk.count(b"\n", 0, first)
        raise Refused("encoding.unsupported", line, "declared single-byte, bytes are UTF-8")

    def _mixed(self, chunk: bytes) -> None:
        if not chunk.translate(None, _NOT_CONTINUATION):
            return  # no byte 0x80-0xBF: no UTF-8 run can be there (C speed; the regex scans every byte)
        for match in _UTF8_RUN_RE.finditer(chunk):
            try:
                match.group(0).decode("utf-8")  # the regex admits overlongs and surrogates in 3-byte forms
            except UnicodeDecodeError:
                continue
            line = self.line + chunk.count(b"\n", 0, match.start())
            if line != self._mixed_line:  # one problem per line, however many runs it holds
                self._mixed_line = line
                self.report(
                    "encoding.mixed", f"{self.name}:{line}", "UTF-8 text in a single-byte file, read as declared"
                )

    def feed(self, data: bytes, final: bool) -> bytes:
        chunk = self._carry + data
        self._carry = b""
        if not final:
            cut = len(chunk)
            amp = chunk.rfind(b"&", max(0, cut - _MAX_ENTITY))
            if amp != -1 and b";" not in chunk[amp:]:
                cut = amp
            if self._undecided or self._latin:  # keep a multi-byte sequence cut by the chunk end whole
                end = cut
                while end > 0 and cut - end < 4 and chunk[end - 1] >= 0x80:
                    end -= 1
                if end > 0:
                    cut = end
            chunk, self._carry = chunk[:cut], chunk[cut:]
        if self._undecided:
            self._decide(chunk)
        if self._latin:
            self._mixed(chunk)
        out = self._replace(chunk)
        self.line += chunk.count(b"\n")
        return out
