"""Safe, streaming XML reading for untrusted exports (AAF, SIECLE/BEE, STS).

One entry point, :func:`iter_elements`::

    from ent_migrate.xmlsafe import iter_elements, where

    with path.open("rb") as fh:
        for element in iter_elements(fh, "Eleve_0000.xml", problems, {"addRequest", "modifyRequest"},
                                     expected={"ficAlimMENESR"}):
            line = element.sourceline            # for "file:line" problems: where(name, element)
            ...                                  # read the element (and its children) here

What it guarantees:

* **Flat memory, whatever the file holds.** lxml's pull parser is fed 64 KiB at a time; after each feed
  every element already passed is deleted — the records yielded (cleared as soon as the caller asks for
  the next one) and anything else: of every element on the path from the root to the element being
  parsed, all children but the last are deleted, so elements nobody asked for never pile up. Do not keep
  references to a yielded element (or its children) after that: copy the values you need. Do not ask for
  a tag *and* one of its descendants' tags.
* **Unexpected elements are counted.** Outside the records, an element whose tag is neither asked for
  nor in *expected* (the containers and the elements known to carry nothing) is counted by tag and
  reported once per file and tag as ``xml.unexpected-element`` (a warning whose detail gives the count).
  Inside a record, the caller decides what it reads.
* **A record has a size cap.** A record (an element asked for) certainly larger than *max_record_bytes*
  (default :data:`MAX_RECORD_BYTES`, measured in bytes of XML at feed boundaries, so the cap is never
  undershot and overshot by at most 128 KiB) is not built: its children are freed as they come, it is
  skipped and reported as ``record.too-large`` at ``file:line``.
* **Nothing expanded, nothing fetched.** The parser runs with ``resolve_entities=False,
  no_network=True, load_dtd=False, huge_tree=False``. Before parsing, the prolog is sniffed
  (:func:`~ent_migrate.xmlsniff.sniff_prolog`): a DOCTYPE with an external identifier only
  (``<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">``) is accepted and never loaded; an internal
  subset (``[...]``) or any ``<!ENTITY`` is refused as ``xml.dtd-forbidden`` and nothing of the file is
  parsed (so billion-laughs and XXE never start), in UTF-16/32 too.
* **Encodings.** Only ASCII-compatible encodings the ENT exports use are read: UTF-8, ISO-8859-15,
  ISO-8859-1, windows-1252, US-ASCII. Anything else, a declaration that lies (declared UTF-8 but the
  bytes are not; declared ISO-8859-* but the text is in fact UTF-8), or UTF-16/32 (with a byte-order
  mark or without, detected by its NUL pattern) is refused as ``encoding.unsupported``. A UTF-8 BOM is
  accepted (and dropped) when the declaration is UTF-8 or absent — SIECLE exports carry one; a UTF-8
  BOM before a non-UTF-8 declaration is refused. UTF-8 runs inside a genuinely Latin file are read as
  declared and reported per line as ``encoding.mixed``.
* **HTML entities.** AAF values may hold HTML-only named entities (``&eacute;``) that XML does not
  define. A streaming byte filter rewrites every HTML5 named entity into numeric character
  references (``&#233;``) before lxml sees it, which keeps line numbers and decodes exactly what
  entcore's HTML-unescaping does. A named entity neither XML nor HTML defines is kept as literal
  text (``&foo;`` is rewritten to ``&amp;foo;``) and reported as ``xml.entity-undefined`` — never
  silently dropped, as lxml would do behind a DOCTYPE. (The filter runs before parsing, so the same
  rewrite also applies inside CDATA sections and comments; ENT exports use neither for values.)
* **Malformed XML.** Everything yielded before the fault stays yielded; the fault is reported as
  ``xml.malformed`` at ``file:line`` (lxml's line) and iteration stops. A record still open where a
  truncated file ends is never yielded (lxml >= 6.2 closes it at ``close()``: it is dropped).

Problems are added to the caller's :class:`~ent_migrate.problems.Problems`; nothing raises for bad
input. Details never quote file content (positions, tag names and parser messages only).

Parsing is the readers' main cost, so an export is parsed once however many readers need it:
:class:`Spool` keeps the rows one pass extracted (a temporary file, flat memory) for the next readers,
and :func:`export_signature` tells when the files changed under it (then the spool is stale).
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any, cast

from lxml import etree

from ent_migrate.problems import Problems
from ent_migrate.xmlsniff import PROLOG_LIMIT, SUPPORTED_ENCODINGS, ByteFilter, Prolog, Refused, sniff_prolog

__all__ = [
    "CHUNK_SIZE",
    "FEED_SIZE",
    "MAX_RECORD_BYTES",
    "PROLOG_LIMIT",
    "SUPPORTED_ENCODINGS",
    "Prolog",
    "Spool",
    "export_signature",
    "iter_elements",
    "sniff_prolog",
    "text_of",
    "where",
]

#: bytes read from the stream at a time (the byte filter's unit)
CHUNK_SIZE = 1 << 20
#: bytes fed to the parser at a time: what is passed is freed after each feed
FEED_SIZE = 1 << 16
#: default cap on one record (an element asked for), in bytes of XML
MAX_RECORD_BYTES = 1 << 20


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


def _syntax_code(exc: etree.XMLSyntaxError) -> str:
    message = str(exc).lower()
    return "encoding.unsupported" if "encoding" in message or "utf-8" in message else "xml.malformed"


def _short(exc: etree.XMLSyntaxError) -> str:
    # lxml appends ", line N, column M (<string>, line N)": the position is already in file:line.
    message = str(exc).split(", line ")[0]
    return message[:100]


def _tag(element: etree._Element) -> str:
    tag = element.tag
    return tag if isinstance(tag, str) else "?"  # an entity reference or such: no name to report


class _Walker:
    """What one file's parse keeps between feeds: the root, the record being built, the counts of
    unexpected elements, and the bytes fed so far (the record cap's measure)."""

    def __init__(
        self, name: str, problems: Problems, wanted: frozenset[str], expected: frozenset[str] | None, cap: int
    ) -> None:
        self.name, self.problems, self.wanted, self.cap = name, problems, wanted, cap
        #: tags fine outside a record; None: nothing is counted as unexpected
        self.fine = None if expected is None else wanted | expected
        self.root: etree._Element | None = None
        self.record: etree._Element | None = None  # the outermost record being built
        self.record_start = 0  # bytes fed when its start was seen: never more than where it starts
        self.skipping = False  # the record is over the cap: freed as it comes, not yielded
        self.fed = 0  # bytes fed so far
        self.fed_before = 0  # bytes fed before the last feed
        self.unexpected: dict[str, list[int]] = {}  # tag -> [count, first line]

    def drain(self, parser: etree.XMLPullParser) -> Iterator[etree._Element]:
        wanted = self.wanted
        # Only start and end events are asked for, so every event's item is an element. This loop runs
        # twice per record: the end event, the common one, is tested first.
        events = cast(Iterator[tuple[str, etree._Element]], parser.read_events())  # once, not per event
        for event, element in events:
            if event == "end":
                if element is self.record:
                    self.record = None
                    # the cap tested inline (a call per record costs), the problem reported by the call
                    too_large = self.fed_before - self.record_start > self.cap
                    if self.skipping or (too_large and self._too_large(element, self.fed_before)):
                        element.clear(keep_tail=False)  # type: ignore[call-arg]  # lxml-stubs lack keep_tail
                        continue
                elif self.skipping or element.tag not in wanted:
                    # a record asked for inside a skipped one; or the root's end (it is in the filter
                    # so that its start gives the root)
                    continue
                yield element
                element.clear(keep_tail=False)  # type: ignore[call-arg]  # lxml-stubs lack keep_tail (lxml >= 4.4)
            else:
                if self.root is None:
                    self.root = element.getroottree().getroot()
                if self.record is None and element.tag in wanted:
                    self.record, self.record_start, self.skipping = element, self.fed, False

    def _too_large(self, record: etree._Element, end: int) -> bool:
        if end - self.record_start <= self.cap:
            return False
        self.problems.add("record.too-large", where(self.name, record), f"over {self.cap} bytes, skipped")
        return True

    def prune(self) -> None:
        """Delete every complete element but the records being built: on the path from the root to the
        element being parsed, all children of each element but its last one (which may be open)."""
        if self.record is not None and not self.skipping and self._too_large(self.record, self.fed):
            self.skipping = True
        fine = self.fine
        counting = fine is not None  # are the children deleted here counted? (not inside a counted one)
        node = self.root
        while node is not None and len(node):
            if node is self.record:
                if not self.skipping:
                    return  # a record being built keeps its children
                counting = False
            if len(node) > 1:
                if counting:
                    self._count(cast(list[etree._Element], cast(Any, node)[:-1]))  # lxml-stubs lack slicing
                del node[:-1]
            child = node[-1]
            if counting and child is not self.record and child.tag not in fine:  # type: ignore[operator]
                counting = False  # an unexpected element is counted once, as a whole, when deleted
            node = child

    def _count(self, children: list[etree._Element]) -> None:
        fine = self.fine
        assert fine is not None  # only called when counting
        for child in children:
            tag = child.tag
            if tag not in fine:
                self._add(child)

    def _add(self, element: etree._Element) -> None:
        tag = _tag(element)
        found = self.unexpected.get(tag)
        if found is None:
            line = element.sourceline
            self.unexpected[tag] = [1, line if isinstance(line, int) else 0]
        else:
            found[0] += 1

    def finish(self) -> None:
        """After the last feed: count what remains of the tree, then report each unexpected tag once."""
        if self.fine is not None and self.root is not None:
            self._count_remaining(self.root)
        for tag, (count, line) in sorted(self.unexpected.items()):
            detail = f"<{tag[:60]}>: {count} element{'s' if count > 1 else ''} outside the records, ignored"
            self.problems.add("xml.unexpected-element", where(self.name, line=line), detail)
        self.unexpected.clear()

    def _count_remaining(self, node: etree._Element) -> None:
        fine = self.fine
        assert fine is not None
        for child in node:
            if child is self.record or child.tag in self.wanted:
                continue
            if child.tag in fine:
                self._count_remaining(child)
            else:
                self._add(child)


def _parser(tags: list[str]) -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start", "end"),
        tag=tags,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def iter_elements(
    stream: IO[bytes],
    name: str,
    problems: Problems,
    tags: Collection[str],
    *,
    expected: Collection[str] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[etree._Element]:
    """Yield each element whose tag is in *tags* (a record) at its end, then free it.

    *name* is how problems name the file (``name:line``). *expected* lists the other tags that may
    appear outside the records (containers such as the root); any other tag there is counted and
    reported as ``xml.unexpected-element`` (None: nothing is reported, everything is still freed).
    A record larger than *max_record_bytes* is skipped and reported as ``record.too-large``. Stops
    early, after reporting the problem, on a refused prolog, a bad encoding or malformed XML;
    everything yielded before stays valid data.
    """
    head = stream.read(PROLOG_LIMIT)
    prolog = sniff_prolog(head, name, problems.add)
    if prolog is None:
        return
    wanted = frozenset(tags)
    walker = _Walker(name, problems, wanted, None if expected is None else frozenset(expected), max_record_bytes)
    # The root is in the filter (any namespace) so that its start event gives the tree to prune before
    # the first record ends; its end event is ignored unless it is asked for.
    local = prolog.root.rpartition(":")[2]
    try:
        parser = _parser(sorted(wanted | ({"{*}" + local} if local else set())))
    except ValueError:  # a root name lxml refuses (a control character): lxml reports the file below
        parser = _parser(sorted(wanted))
    filt = ByteFilter(name, problems.add, prolog.encoding)
    feed = max(1, min(chunk_size, FEED_SIZE))
    pending = head[prolog.skip :]
    data, pending = pending[:chunk_size], pending[chunk_size:]
    closing = False  # is the fault, if any, close()'s (the file ends inside an open element)?
    try:
        while True:
            final = not data
            out = filt.feed(data, final)
            for start in range(0, len(out), feed):
                piece = out[start : start + feed]
                walker.fed_before = walker.fed
                walker.fed += len(piece)
                parser.feed(piece)
                yield from walker.drain(parser)
                walker.prune()
            if final:
                walker.fed_before = walker.fed
                closing = True
                parser.close()
                yield from walker.drain(parser)
                break
            if pending:  # the sniffed head is fed chunk by chunk too
                data, pending = pending[:chunk_size], pending[chunk_size:]
            else:
                data = stream.read(chunk_size)
    except Refused as refused:
        problems.add(refused.code, where(name, line=refused.line), refused.detail)
    except etree.XMLSyntaxError as exc:
        if closing:
            # Every feed was drained, so what is left came from close() itself: lxml >= 6.2 ends each
            # element still open when the input stops early (a truncated file) before raising. Those
            # ends are the parser's, not the file's: the unfinished record they close is dropped.
            for _ in parser.read_events():
                pass
        else:
            yield from walker.drain(parser)  # events completed before the fault are good data
        line = exc.lineno if exc.lineno and exc.lineno > 0 else filt.line
        problems.add(_syntax_code(exc), where(name, line=line), _short(exc))
    walker.finish()


class Spool:
    """Rows (tuples of plain values) one streaming pass saves for a later pass to stream back, so an
    export is parsed once however many readers need what it holds, and memory stays flat: only one
    batch of rows is in memory at a time, the rest is in an anonymous temporary file. (A bytes-like
    value comes back as bytes: marshal's rule.)

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
        # (offset, length, loads) of each batch, loads being the marshal or pickle function that reads it
        self._spans: list[tuple[int, int, Callable[[bytes], Any]]] = []
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
        # marshal writes plain values (text, numbers, None, tuples: the readers' usual rows) about four
        # times faster than pickle; a batch holding anything else (an enum, a date) is pickled.
        try:
            data, loads = marshal.dumps(self._batch), marshal.loads
        except ValueError:  # an "unmarshallable object"
            data, loads = pickle.dumps(self._batch, protocol=pickle.HIGHEST_PROTOCOL), pickle.loads
        self._file.seek(self._size)
        self._file.write(data)
        self._spans.append((self._size, len(data), loads))
        self._size += len(data)
        self._batch = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        self._flush()
        for offset, length, loads in list(self._spans):
            self._file.seek(offset)
            # bytes this object wrote into a nameless file only this process can reach: safe to unpickle
            rows: list[tuple[Any, ...]] = loads(self._file.read(length))
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
