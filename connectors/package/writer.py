"""Writing a package — the target side, crash-safe.

A directory target is written so that every write is durable and idempotent, and a run killed with
SIGKILL then re-run ends byte-for-byte as an uninterrupted one (apart from ``created_at``):

- a blob is streamed to ``.ent-migrate/tmp/``, checked against the record's SHA-256 and size,
  fsync'd, then ``os.replace``d to its content-addressed place (an existing one is kept: same name,
  same bytes);
- then one JSON line is appended to ``.ent-migrate/log/<kind>.jsonl.log`` — the write exists once
  that line does — and flushed; :meth:`PackageDirectory.sync` fsyncs the logs, and apply calls it
  (through the connector's ``sync``) before it journals a group of writes as done, so a machine crash
  loses only writes the journal does not yet call done, which a resumed apply sends again. A kill
  leaves at most a torn last line, without its newline, which replay ignores and the next append
  cuts off;
- :meth:`PackageDirectory.compact` (on close, and before any read) merges each log into the sorted
  ``records/<kind>.jsonl`` (last write per key wins, a delete removes), drops blobs no record uses,
  writes ``schemas/`` and finally ``manifest.json``, each atomically, then removes ``.ent-migrate/``.
  Every step is idempotent, and ``.ent-migrate/`` exists from the first write until the manifest is
  written: its presence is what says "unfinished, compact me".

The merge runs through a temporary SQLite file, so memory stays flat whatever the package size.
A zip target is such a directory, packed at the end by :func:`pack_zip` (fixed timestamps and
order, temp file + fsync + ``os.replace``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ent_migrate import __version__
from ent_migrate.connectors.package.layout import (
    BLOB_KINDS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    WORK_DIR,
    blob_path,
    dump_json,
    encode_line,
    record_file,
    record_schema,
    schema_file,
)
from ent_migrate.errors import InputError, TerminalError
from ent_migrate.model import Document, Message, Production, Record, RecordKind, canonical_json, record_from_dict

__all__ = ["PackageDirectory", "fsync_dir", "pack_zip"]

#: a package holds every name, birth date, message and document: owner-only, whatever the umask
_PRIVATE_FILE = 0o600


def _private_dirs(folder: Path) -> None:
    """mkdir -p where each folder made is 0700 (``parents=True`` would give parents the umask's mode)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(mode=0o700, exist_ok=True)
        os.chmod(made, 0o700)


_CHUNK = 1 << 16
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in *path* durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_durably(tmp: Path, final: Path, durable: bool = True) -> None:
    _private_dirs(final.parent)
    os.replace(tmp, final)
    if durable:
        fsync_dir(final.parent)


def _write_atomic(final: Path, chunks: Iterator[bytes], tmp_dir: Path, durable: bool = True) -> None:
    tmp = tmp_dir / f"{final.name}.{uuid.uuid4().hex}.tmp"
    with tmp.open("wb") as out:
        os.fchmod(out.fileno(), _PRIVATE_FILE)  # personal data: never readable by others
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        if durable:
            os.fsync(out.fileno())
    _replace_durably(tmp, final, durable)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class PackageDirectory:
    """A package folder being written. Single writer; not thread-safe."""

    def __init__(self, root: Path, *, created_at: str | None = None, durable: bool = True) -> None:
        self.root = root
        self.work = root / WORK_DIR
        self.created_at = created_at
        #: False skips every fsync (fixture generation): still atomic, no longer crash-proof
        self.durable = durable
        self._logs: dict[RecordKind, IO[bytes]] = {}
        #: the logs appended to since their last fsync
        self._unsynced: set[RecordKind] = set()
        self._begun = False  # the work folder's log/ and tmp/ are known to exist

    @property
    def dirty(self) -> bool:
        return self.work.exists()

    def sync(self) -> None:
        """fsync the logs appended to since the last sync: every write so far survives a crash."""
        if self.durable:
            for kind in self._unsynced:
                os.fsync(self._logs[kind].fileno())
        self._unsynced.clear()

    def close(self) -> None:
        self.sync()
        for handle in self._logs.values():
            handle.close()
        self._logs.clear()

    # -- writes ------------------------------------------------------------------------------------

    def begin(self) -> None:
        # Once per instance, not two stats per write: a read of the package (which may compact it)
        # drops the writer first, and this instance's own compact() forgets it began.
        if self._begun:
            return
        if (self.work / "log").is_dir() and (self.work / "tmp").is_dir():
            self._begun = True
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # an empty folder the user made (0755) becomes private too
        for folder in (self.work, self.work / "log", self.work / "tmp"):
            folder.mkdir(mode=0o700, exist_ok=True)
            if self.durable:
                fsync_dir(folder.parent)
        self._begun = True

    def put(self, record: Record, blob: IO[bytes] | None, *, disabled: bool = False) -> None:
        """Add or replace *record*; its bytes (documents, productions, messages) come from *blob*."""
        self.begin()
        if isinstance(record, Message | Document | Production):
            self._store_blob(record, blob)
        self._append(record.kind, {"op": "put", "line": encode_line(record, disabled=disabled)})

    def delete(self, kind: RecordKind, key: str) -> None:
        self.begin()
        self._append(kind, {"op": "delete", "key": key})

    def _store_blob(self, record: Message | Document | Production, blob: IO[bytes] | None) -> None:
        final = self.root / blob_path(record)
        if final.exists():
            return  # content-addressed: same name, same bytes (checked when it was written)
        if blob is None:
            raise TerminalError(f"{record.kind} written without its bytes (sha256 {record.sha256[:12]}…)")
        tmp = self.work / "tmp" / f"{uuid.uuid4().hex}.blob"
        digest = hashlib.sha256()
        size = 0
        with tmp.open("wb") as out:
            os.fchmod(out.fileno(), _PRIVATE_FILE)  # personal data: never readable by others
            while chunk := blob.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            if self.durable:
                os.fsync(out.fileno())
        if digest.hexdigest() != record.sha256 or size != record.size:
            tmp.unlink()
            raise TerminalError(f"{record.kind} bytes do not match the record's sha256 and size")
        _replace_durably(tmp, final, self.durable)

    def _log_path(self, kind: RecordKind) -> Path:
        return self.work / "log" / f"{kind}.jsonl.log"

    def _append(self, kind: RecordKind, entry: dict[str, Any]) -> None:
        handle = self._logs.get(kind)
        if handle is None:
            path = self._log_path(kind)
            _cut_torn_tail(path)
            handle = self._logs[kind] = path.open("ab")
            os.fchmod(handle.fileno(), _PRIVATE_FILE)
            if self.durable:
                fsync_dir(path.parent)
        handle.write(canonical_json(entry) + b"\n")  # strings only: the bytes dump_json writes
        # Flushed, so a killed process loses nothing; fsync'd by sync(), which apply calls before it
        # journals a group of writes as done (one fsync for the group, not one per write).
        handle.flush()
        self._unsynced.add(kind)

    # -- compaction --------------------------------------------------------------------------------

    def compact(self) -> None:
        """Fold the logs into the package and write the manifest (see the module docstring)."""
        self.close()
        self.begin()
        tmp_dir = self.work / "tmp"
        db_path = self.work / "compact.sqlite"
        db_path.unlink(missing_ok=True)
        db = sqlite3.connect(db_path)
        try:
            db.execute("PRAGMA journal_mode=OFF")  # a scratch file: a crash just rebuilds it
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE rec (kind TEXT, key TEXT, line TEXT, blob TEXT, PRIMARY KEY (kind, key))")
            db.execute("CREATE INDEX rec_blob ON rec (blob)")
            for kind in RecordKind:
                self._load_kind(db, kind)
            for kind in RecordKind:
                final = self.root / record_file(kind)
                if final.exists() and not self._log_path(kind).exists():
                    continue  # no write since the last compaction: already sorted and merged
                rows = db.execute("SELECT line FROM rec WHERE kind = ? ORDER BY key", (str(kind),))
                _write_atomic(final, (row[0].encode("utf-8") for row in rows), tmp_dir, self.durable)
            for kind in RecordKind:
                self._log_path(kind).unlink(missing_ok=True)
                schema = json.dumps(record_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                final = self.root / schema_file(kind)
                if not (final.exists() and final.read_bytes() == schema.encode("utf-8")):
                    _write_atomic(final, iter([schema.encode("utf-8")]), tmp_dir, self.durable)
            self._drop_unused_blobs(db)
            self._write_manifest(db, tmp_dir)
        finally:
            db.close()
        shutil.rmtree(self.work)
        self._begun = False
        if self.durable:
            fsync_dir(self.root)

    def _load_kind(self, db: sqlite3.Connection, kind: RecordKind) -> None:
        base = self.root / record_file(kind)
        log = self._log_path(kind)
        if kind not in BLOB_KINDS and not log.exists():
            return  # nothing to merge, and no bytes to keep alive: the file stays as it is
        rows: list[tuple[str, str, str, str | None]] = []
        if base.exists():
            with base.open(encoding="utf-8") as stream:
                for number, line in enumerate(stream, 1):
                    rows.append(self._row(kind, line, f"{base.name}:{number}"))
                    if len(rows) >= 10_000:
                        db.executemany("INSERT OR REPLACE INTO rec VALUES (?, ?, ?, ?)", rows)
                        rows.clear()
        db.executemany("INSERT OR REPLACE INTO rec VALUES (?, ?, ?, ?)", rows)
        if not log.exists():
            return
        with log.open("rb") as stream:
            for number, raw in enumerate(stream, 1):
                if not raw.endswith(b"\n"):
                    break  # torn by a kill: that write never happened
                where = f"{log.name}:{number}"
                try:
                    entry = json.loads(raw)
                except ValueError:
                    raise InputError("unreadable log line", where=where) from None
                if entry["op"] == "delete":
                    db.execute("DELETE FROM rec WHERE kind = ? AND key = ?", (str(kind), entry["key"]))
                else:
                    db.execute("INSERT OR REPLACE INTO rec VALUES (?, ?, ?, ?)", self._row(kind, entry["line"], where))

    @staticmethod
    def _row(kind: RecordKind, line: str, where: str) -> tuple[str, str, str, str | None]:
        try:
            data = json.loads(line)
            record = record_from_dict(data)
        except (KeyError, ValueError, TypeError):
            raise InputError("unreadable record line", where=where) from None
        blob = data.get("blob_path") if kind in BLOB_KINDS else None
        return (str(kind), record.key, line if line.endswith("\n") else line + "\n", blob)

    def _drop_unused_blobs(self, db: sqlite3.Connection) -> None:
        """Bytes no record points to any more (deleted, replaced, or written just before a kill)."""
        for top in ("files", "mail"):
            base = self.root / top
            if not base.is_dir():
                continue
            for folder, subfolders, files in os.walk(base, topdown=False):
                for name in files:
                    path = Path(folder) / name
                    relative = path.relative_to(self.root).as_posix()
                    if db.execute("SELECT 1 FROM rec WHERE blob = ? LIMIT 1", (relative,)).fetchone() is None:
                        path.unlink()
                for name in subfolders:
                    sub = Path(folder) / name
                    if not any(sub.iterdir()):
                        sub.rmdir()
            if not any(base.iterdir()):
                base.rmdir()

    def _write_manifest(self, db: sqlite3.Connection, tmp_dir: Path) -> None:
        db.execute("CREATE TABLE file (path TEXT PRIMARY KEY, size INTEGER, sha256 TEXT)")
        for folder, subfolders, files in os.walk(self.root):
            here = Path(folder)
            if here == self.root:
                subfolders[:] = [name for name in subfolders if name != WORK_DIR]
            for name in files:
                path = here / name
                relative = path.relative_to(self.root).as_posix()
                if relative == MANIFEST:
                    continue
                # content-addressed blobs: the name is the hash, checked when the bytes were written
                blob = relative.startswith(("files/", "mail/"))
                sha = name.removesuffix(".eml") if blob else _sha256_file(path)
                db.execute("INSERT INTO file VALUES (?, ?, ?)", (relative, path.stat().st_size, sha))
        created_at = self.created_at or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace(
            "+00:00", "Z"
        )
        head = {
            "created_at": created_at,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "producer": {"name": "ent-migrate", "version": __version__},
        }
        rows = db.execute("SELECT path, size, sha256 FROM file ORDER BY path")

        def chunks() -> Iterator[bytes]:
            # Streamed, one file per line: a vendor can diff two manifests with plain tools.
            yield b"{\n"
            for key, value in head.items():
                yield f"  {json.dumps(key)}: {dump_json(value)},\n".encode()
            yield b'  "files": ['
            first = True
            for path, size, sha in rows:
                entry = dump_json({"path": path, "sha256": sha, "size": size})
                yield f"{'' if first else ','}\n    {entry}".encode()
                first = False
            yield b"\n  ]\n}\n"

        _write_atomic(self.root / MANIFEST, chunks(), tmp_dir, self.durable)


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline (a write torn by a kill) before appending after it."""
    if not path.exists():
        return
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        position = size
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            index = block.rfind(b"\n")
            if index >= 0:
                handle.truncate(position + index + 1)
                break
        else:
            handle.truncate(0)
        handle.flush()
        os.fsync(handle.fileno())


def pack_zip(root: Path, out: Path, *, durable: bool = True) -> None:
    """Pack a finished package folder into *out*, deterministically and atomically.

    ``manifest.json`` first, then the listed files in manifest order; fixed timestamps and modes. JSON is
    deflated; blobs are stored as they are (mostly compressed formats already, and a stored member can
    never look like a zip bomb to the reader's ratio cap).
    """
    with (root / MANIFEST).open(encoding="utf-8") as stream:
        manifest = json.load(stream)
    names = [MANIFEST] + [item["path"] for item in manifest["files"]]
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            os.fchmod(raw.fileno(), _PRIVATE_FILE)
            for name in names:
                path = root / name
                size = path.stat().st_size
                info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                info.create_system = 3
                info.external_attr = 0o100644 << 16
                blob = name.startswith(("files/", "mail/"))
                info.compress_type = zipfile.ZIP_STORED if blob else zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(info, "w", force_zip64=size > (1 << 31)) as target:
                    shutil.copyfileobj(source, target, _CHUNK)
        if durable:
            with tmp.open("rb+") as written:
                os.fsync(written.fileno())
        _private_dirs(out.parent)
        os.replace(tmp, out)
        if durable:
            fsync_dir(out.parent)
    finally:
        tmp.unlink(missing_ok=True)
