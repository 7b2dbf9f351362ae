"""Reading and verifying a package (a folder or a ``.zip``) — the source side.

Opening checks the whole package before a single record is handed out: every member through
:mod:`ent_migrate.archive` (paths, links, caps), the manifest against its schema, the manifest
against the members (nothing missing, extra or listed twice, sizes equal), and the SHA-256 of the
record and schema files — and of every blob too unless ``verify="lazy"``, in which case a blob is
checked as it is read (a mismatch raises at its end). Records are then streamed line by line.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import jsonschema
import orjson

from ent_migrate.archive import Archive, Limits, ProblemSink, check_member_name
from ent_migrate.connectors.package.layout import (
    BLOB_KINDS,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_SCHEMA,
    blob_path,
    record_file,
    record_schema,
    schema_file,
)
from ent_migrate.errors import InputError, UnsafeArchiveError
from ent_migrate.model import Document, Message, Production, Record, RecordKind, may_hold_long_int, record_from_dict

__all__ = ["ManifestEntry", "PackageReader"]

_CHUNK = 1 << 16
_MAX_LINE = 16 << 20  # one record line; a longer one is hostile or broken
_MAX_MANIFEST = 1 << 30


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


class _Verified(io.RawIOBase):
    """Hashes what it reads; at the end, a SHA-256 or size other than the manifest's raises."""

    def __init__(self, inner: IO[bytes], entry: ManifestEntry, where: str) -> None:
        super().__init__()
        self._inner = inner
        self._entry = entry
        self._where = where
        self._hash = hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # typeshed wants a Buffer
        data = self._inner.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._hash.update(data)
        self._size += count
        if count == 0 and not self._checked:
            self._checked = True
            if self._size != self._entry.size:
                raise UnsafeArchiveError("size differs from the manifest", where=self._where)
            if self._hash.hexdigest() != self._entry.sha256:
                raise UnsafeArchiveError("sha256 differs from the manifest", where=self._where)
        return count

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)


#: What ends an object key: its closing quote, then ``:``. Every key in the text matches once; a
#: string that holds ``\":`` or starts with ``:`` matches too, so the count is never below the keys.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')


def _key_count(value: Any) -> int:
    # Recursive, exact types, plain loops: orjson makes plain dicts and lists, and this runs per line.
    count = 0
    if type(value) is dict:
        count = len(value)
        value = value.values()
    elif type(value) is not list:
        return 0
    for item in value:
        if type(item) is dict or type(item) is list:
            count += _key_count(item)
    return count


def _loads_line(raw: bytes) -> Any:
    """:func:`_loads` of the UTF-8 line, through orjson when that gives the very same value: orjson
    refuses what json would refuse here (bad UTF-8, NaN, Infinity), but keeps the last of two equal
    keys, and reads a long int as a float. So a line with a 19-digit run, a line orjson refuses, and a
    line with fewer keys parsed than key ends in its text (a duplicate, or only a string that looks
    like one) all go through json, which then gives the result or the error it always gave."""
    if not may_hold_long_int(raw):
        try:
            data = orjson.loads(raw)
            if _key_count(data) == len(_KEY_END.findall(raw)):
                return data
        except (orjson.JSONDecodeError, RecursionError):  # json decides (orjson nests deeper than Python)
            pass
    return _loads(raw.decode("utf-8"))


@functools.cache
def _validator(kind: RecordKind) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(record_schema(kind))


# The fast path below is generated as one Python expression per field and compiled once per kind:
# the nested closures it replaced (a lambda per keyword, any()/all() over them) were half of the
# reader's time in issue 15's profile.
_TYPES = {
    "string": "isinstance(v, str)",
    "integer": "(isinstance(v, int) and not isinstance(v, bool))",
    "boolean": "isinstance(v, bool)",
    "null": "v is None",
    "array": "isinstance(v, list)",
}


def _keyword(keyword: str, value: Any, bind: Callable[[Any], str]) -> str | None:
    """One keyword's check as an expression over ``v``; None for a keyword this fast path does not know.
    *bind* names a constant in the compiled function's namespace (no value is ever spliced in as text)."""
    if keyword == "type":
        return "(" + " or ".join(_TYPES[name] for name in ([value] if isinstance(value, str) else value)) + ")"
    if keyword == "const":
        return f"(isinstance(v, str) and v == {bind(value)})"
    if keyword == "enum":
        return f"(isinstance(v, str) and v in {bind(frozenset(value))})"
    if keyword == "pattern":
        return f"(not isinstance(v, str) or {bind(re.compile(value).search)}(v) is not None)"
    if keyword == "minimum":
        return f"(not isinstance(v, int) or v >= {bind(value)})"
    if keyword == "minLength":
        return f"(not isinstance(v, str) or len(v) >= {bind(value)})"
    if keyword == "items":
        return f"(not isinstance(v, list) or all(map({bind(_compile(value))}, v)))"
    if keyword == "format":
        return "True"  # jsonschema does not assert formats by default; record_from_dict parses dates
    return None


def _compile(schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A fast yes-check for the few keywords :func:`record_schema` uses. It may say no to a valid
    value (jsonschema then decides), never yes to an invalid one; an unknown keyword always says no."""
    namespace: dict[str, Any] = {}

    def bind(value: Any) -> str:
        name = f"_c{len(namespace)}"
        namespace[name] = value
        return name

    parts: list[str] = []
    for keyword, value in schema.items():
        part = _keyword(keyword, value, bind)
        if part is None:
            return lambda v: False
        parts.append(part)
    # S307: the text is built here from the fixed fragments above; every value is a bound name, never text.
    check: Callable[[Any], bool] = eval("lambda v: " + (" and ".join(parts) or "True"), namespace)  # noqa: S307
    return check


@functools.cache
def _quick(kind: RecordKind) -> Callable[[dict[str, Any]], bool]:
    schema = record_schema(kind)
    required = frozenset(schema["required"])
    fields = {name: _compile(prop) for name, prop in schema["properties"].items()}

    def check(data: dict[str, Any]) -> bool:
        if not required <= data.keys():
            return False
        for name, value in data.items():
            field = fields.get(name)
            if field is None or not field(value):
                return False
        return True

    return check


def _schema_error(error: jsonschema.ValidationError) -> str:
    # Never the offending value: it may be a name or an INE. The field path and the rule say enough.
    return f"field {error.json_path} fails the schema rule {error.validator!r}"


class PackageReader:
    """A verified, open package. Close it (or use it as a context manager) to release the archive."""

    def __init__(
        self, path: Path, limits: Limits | None = None, *, verify: str = "full", on_problem: ProblemSink | None = None
    ) -> None:
        if verify not in ("full", "lazy"):
            raise ValueError(f"verify must be 'full' or 'lazy', not {verify!r}")
        self.path = path
        self.archive = Archive(path, limits)
        self.label = self.archive.label
        self.entries: dict[str, ManifestEntry] = {}
        self.manifest: dict[str, Any] = {}
        self._on_problem = on_problem
        try:
            self._check(verify)
        except BaseException:
            self.archive.close()
            raise

    def __enter__(self) -> PackageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.archive.close()

    # -- verification ------------------------------------------------------------------------------

    def _where(self, name: str) -> str:
        return f"{self.label}:{name}"

    def _check(self, verify: str) -> None:
        names = self.archive.names()
        if MANIFEST not in self.archive:
            if not names:
                return  # an empty folder: an empty target nothing was written to yet
            raise UnsafeArchiveError("missing: not an ent-migrate package", where=self._where(MANIFEST))
        self.manifest = self._read_manifest()
        previous = ""
        for item in self.manifest["files"]:
            path = item["path"]
            try:
                normal = check_member_name(path)
            except ValueError as exc:
                raise UnsafeArchiveError(f"unsafe path in the manifest: {exc}", where=self._where(path)) from None
            if normal != path or path == MANIFEST:
                raise UnsafeArchiveError("path in the manifest is not a plain member name", where=self._where(path))
            if path in self.entries:
                raise UnsafeArchiveError("listed twice in the manifest", where=self._where(path))
            if path < previous:
                raise UnsafeArchiveError("manifest files are not sorted by path", where=self._where(path))
            previous = path
            if path not in self.archive:
                raise UnsafeArchiveError("listed in the manifest but missing", where=self._where(path))
            entry = ManifestEntry(path, int(item["size"]), str(item["sha256"]))
            if self.archive.member(path).size != entry.size:
                raise UnsafeArchiveError("size differs from the manifest", where=self._where(path))
            self.entries[path] = entry
        for name in names:
            if name != MANIFEST and name not in self.entries:
                raise UnsafeArchiveError("not listed in the manifest", where=self._where(name))
        known = {record_file(kind) for kind in RecordKind} | {schema_file(kind) for kind in RecordKind}
        for path in self.entries:
            if path not in known and not path.startswith(("files/", "mail/")) and self._on_problem is not None:
                # listed and hashed, so not tampering; but nothing here reads it: say so
                self._on_problem(code="file.unknown", where=self._where(path), detail="not part of the package format")
        for path in self.entries:
            if verify == "full" or not (path.startswith("files/") or path.startswith("mail/")):
                with self.open_member(path) as stream:
                    while stream.read(_CHUNK):
                        pass

    def _read_manifest(self) -> dict[str, Any]:
        member = self.archive.member(MANIFEST)
        if member.size > _MAX_MANIFEST:
            raise UnsafeArchiveError("manifest over the size cap", where=self._where(MANIFEST))
        with member.open() as stream:
            # read(n) allocates n bytes before it reads: the member's own size, never the 1 GiB cap.
            raw = stream.read(member.size + 1)
        try:
            data = _loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"not valid UTF-8 JSON ({type(exc).__name__})", where=self._where(MANIFEST)) from None
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(data))
        if error is not None:
            if error.json_path in ("$.format", "$.format_version"):
                detail = f"not an {FORMAT_VERSION}-compatible ent-migrate package ({error.json_path})"
            else:
                detail = _schema_error(error)
            raise InputError(detail, where=self._where(MANIFEST))
        assert isinstance(data, dict)
        return data

    # -- access ------------------------------------------------------------------------------------

    def entry(self, path: str) -> ManifestEntry | None:
        return self.entries.get(path)

    def open_member(self, path: str) -> IO[bytes]:
        """A listed member's bytes; the stream raises at its end if they differ from the manifest."""
        entry = self.entries.get(path)
        if entry is None:
            raise UnsafeArchiveError("not listed in the manifest", where=self._where(path))
        raw = _Verified(self.archive.member(path).open(), entry, self._where(path))
        return io.BufferedReader(raw, buffer_size=_CHUNK)

    def open_blob(self, record: Message | Document | Production) -> IO[bytes]:
        return self.open_member(blob_path(record))

    def records(self, kind: RecordKind) -> Iterator[Record]:
        """Stream ``records/<kind>.jsonl``; any bad line is an :class:`InputError` naming file:line."""
        path = record_file(kind)
        if path not in self.entries:
            return  # a package may leave out a kind it has nothing of
        validator = _validator(kind)
        previous: str | None = None
        with self.open_member(path) as stream:
            number = 0
            while True:
                raw = stream.readline(_MAX_LINE + 1)
                if not raw:
                    break
                number += 1
                where = f"{self.label}:{path}:{number}"
                if len(raw) > _MAX_LINE:
                    raise InputError("line over the length cap", where=where)
                if not raw.endswith(b"\n"):
                    raise InputError("last line has no end of line (truncated file?)", where=where)
                record = self._parse(raw, kind, validator, where)
                if previous is not None and record.key <= previous:
                    raise InputError("records are not sorted by key, or a key appears twice", where=where)
                previous = record.key
                yield record

    def _parse(self, raw: bytes, kind: RecordKind, validator: jsonschema.Draft202012Validator, where: str) -> Record:
        try:
            data = _loads_line(raw)
        except UnicodeDecodeError:
            raise InputError("not UTF-8", where=where) from None
        except ValueError as exc:
            raise InputError(f"not valid JSON ({type(exc).__name__})", where=where) from None
        if not isinstance(data, dict):
            raise InputError("not a JSON object", where=where)
        if not _quick(kind)(data):  # jsonschema is the judge, and the slow part: ask it only when in doubt
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
            if error is not None:
                raise InputError(_schema_error(error), where=where)
        try:
            record = record_from_dict(data)
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"record cannot be read ({type(exc).__name__})", where=where) from None
        if kind in BLOB_KINDS:
            assert isinstance(record, Message | Document | Production)
            expected = blob_path(record)
            if data["blob_path"] != expected:
                raise InputError(f"blob_path is not where the format puts these bytes ({expected})", where=where)
            entry = self.entries.get(expected)
            if entry is None:
                raise UnsafeArchiveError("the record's bytes are not in the manifest", where=where)
            if entry.sha256 != record.sha256 or entry.size != record.size:
                raise UnsafeArchiveError("the record's sha256 or size differs from the manifest", where=where)
        return record
