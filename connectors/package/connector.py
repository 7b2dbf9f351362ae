"""The ``package`` connector: the open reversibility package (docs/package-format.md), both ways.

Location: ``package:/path/to/dir`` or ``package:/path/to/file.zip``.

As a source it refuses, with an :class:`~ent_migrate.errors.UnsafeArchiveError` naming the member,
any package that is unsafe (paths, links, caps) or does not match its manifest; records are streamed
line by line. As a target it writes a folder crash-safely (see ``writer.py``); a ``.zip`` target is
written as the folder ``<file>.zip.work`` and packed atomically at :meth:`finish`, which the runner
calls only once apply has completed (:meth:`close` never packs: an aborted write stays an unfinished,
resumable folder). A directory that holds ``.ent-migrate/`` is an unfinished target: it is compacted
before it is read.

Options: :class:`PackageOptions`.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from ent_migrate.archive import Limits, extract_all
from ent_migrate.connectors.package.layout import MANIFEST, WORK_DIR, blob_path
from ent_migrate.connectors.package.reader import PackageReader
from ent_migrate.connectors.package.writer import PackageDirectory, fsync_dir, pack_zip
from ent_migrate.contract import Action, Capability, CheckResult, Connector, ConnectorOptions, Operation, Role
from ent_migrate.errors import ConfigError, TerminalError, UnreachableError
from ent_migrate.model import (
    Document,
    Function,
    Group,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Production,
    RecordKind,
    Structure,
)
from ent_migrate.options import option

__all__ = ["PackageConnector", "PackageOptions"]


def _limits(raw: Mapping[str, float]) -> Limits:
    known = {field.name: field.type for field in dataclasses.fields(Limits)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"option limits: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {k: (float(v) if known[k] in ("float", float) else int(v)) for k, v in raw.items()}
    return dataclasses.replace(Limits(), **values)


@dataclasses.dataclass(frozen=True, slots=True)
class PackageOptions(ConnectorOptions):
    created_at: str | None = option(None, "the manifest's created_at (ISO 8601 UTC), for byte-identical output")
    limits: Mapping[str, float] = option(help="archive caps, e.g. {max_ratio = 200} (see docs)", empty_table=True)
    verify: str = option("full", "full: every blob hashed on open; lazy: blobs checked as they are read")
    durable: bool = option(True, "fsync every write so it survives a kill; false for fixtures")

    def __post_init__(self) -> None:
        if self.verify not in ("full", "lazy"):
            raise ValueError(f"option verify must be 'full' or 'lazy', not {self.verify!r}")
        _limits(self.limits)


class PackageConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "package"
    summary: ClassVar[str] = "Open reversibility package (folder or .zip): manifest, JSON Lines, blobs, EML."
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE, Role.TARGET})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ACCOUNTS,
            Capability.GROUPS,
            Capability.RELATIONS,
            Capability.MAIL,
            Capability.DOCUMENTS,
            Capability.DELETE,
            Capability.READ_BACK,
            Capability.BLOB_HASH,
        }
    )
    location_help: ClassVar[str] = "package:/path/to/dir or package:/path/to/file.zip"
    # Its reader opens the package itself, on the first read, and keeps nothing a later call needs
    # (open_blob opens it again): what a read finds goes to self.problems.
    reads_in_child: ClassVar[bool] = True
    Options: ClassVar[type[ConnectorOptions]] = PackageOptions
    options: PackageOptions
    fixture_writer: ClassVar[tuple[str, str] | None] = (
        "ent_migrate.connectors.package.fixture:write_package",
        "records",
    )

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not location:
            raise ConfigError("package needs a location: package:/path/to/dir or package:/path/to/file.zip")
        self.path = Path(location).expanduser()
        self.is_zip = self.path.suffix.lower() == ".zip"
        # A zip target is built as a folder next to it, then packed: the folder is what resumes.
        self.root = self.path.with_name(self.path.name + ".work") if self.is_zip else self.path
        self.created_at = self.options.created_at
        self.limits = _limits(self.options.limits)
        self.verify = self.options.verify
        self.durable = self.options.durable
        self._writer: PackageDirectory | None = None
        self._reader: PackageReader | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        if self.path.exists() or self.root.exists():
            return CheckResult(reachable=True, authenticated=None, detail="package found")
        parent = self.path.parent
        return CheckResult(reachable=parent.is_dir(), authenticated=None, detail="package not written yet")

    def sync(self) -> None:
        """fsync the logs written since the last sync (apply calls this before journaling writes done)."""
        if self._writer is not None:
            self._writer.sync()

    def finish(self) -> None:
        """Finish a target: compact the folder, and pack it when the location is a ``.zip``. Does nothing
        on a package opened as a source (a hand-back is never written into)."""
        if self.role is not Role.TARGET and self._writer is None:
            return
        self._target().begin()  # an empty apply still leaves a complete (empty) package
        self._drop_reader()
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        if self.root.is_dir() and (self.root / WORK_DIR).exists():
            self._directory().compact()
        if self.is_zip and self.root.is_dir():
            pack_zip(self.root, self.path, durable=self.durable)
            # Renamed first: a kill during the removal must not leave a half-deleted work folder that
            # the next run would take for the package.
            trash = self._trash()
            os.replace(self.root, trash)
            if self.durable:
                fsync_dir(self.root.parent)
            shutil.rmtree(trash)
            self._clear_litter()

    def close(self) -> None:
        """Let go of files without finishing a target: an aborted write leaves the folder unfinished."""
        self._drop_reader()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        for kind in (RecordKind.STRUCTURE, RecordKind.PERSON, RecordKind.FUNCTION):
            for record in self._open_reader().records(kind):
                assert isinstance(record, Structure | Person | Function)
                yield record

    def read_groups(self) -> Iterator[Group]:
        for record in self._open_reader().records(RecordKind.GROUP):
            assert isinstance(record, Group)
            yield record

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        for kind in (RecordKind.MEMBERSHIP, RecordKind.GUARDIANSHIP):
            for record in self._open_reader().records(kind):
                assert isinstance(record, Membership | Guardianship)
                yield record

    def read_mail(self) -> Iterator[Mailbox | Message]:
        for kind in (RecordKind.MAILBOX, RecordKind.MESSAGE):
            for record in self._open_reader().records(kind):
                assert isinstance(record, Mailbox | Message)
                yield record

    def read_documents(self) -> Iterator[Document | Production]:
        for kind in (RecordKind.DOCUMENT, RecordKind.PRODUCTION):
            for record in self._open_reader().records(kind):
                assert isinstance(record, Document | Production)
                yield record

    def open_blob(self, record: Message | Document | Production) -> IO[bytes]:
        reader = self._open_reader()
        if reader.entry(blob_path(record)) is None:
            raise TerminalError(f"no bytes in the package for this {record.kind} (sha256 {record.sha256[:12]}…)")
        return reader.open_blob(record)

    def blob_sha256(self, record: Message | Document | Production) -> str:
        entry = self._open_reader().entry(blob_path(record))
        if entry is None:
            raise TerminalError(f"no bytes in the package for this {record.kind} (sha256 {record.sha256[:12]}…)")
        return entry.sha256  # the manifest's word, without reading the bytes

    # -- target side ---------------------------------------------------------------------------
    def write_account(self, op: Operation) -> None:
        self._put(op, None)

    def write_group(self, op: Operation) -> None:
        self._put(op, None)

    def write_relation(self, op: Operation) -> None:
        self._put(op, None)

    def write_mail(self, op: Operation, blob: IO[bytes] | None) -> None:
        self._put(op, blob)

    def write_document(self, op: Operation, blob: IO[bytes] | None) -> None:
        self._put(op, blob)

    def delete(self, kind: RecordKind, key: str) -> None:
        self._target().delete(kind, key)

    # -- internals -----------------------------------------------------------------------------
    def _put(self, op: Operation, blob: IO[bytes] | None) -> None:
        assert op.record is not None, "writes carry a record; deletes go to delete()"
        self._target().put(op.record, blob, disabled=op.action is Action.DISABLE)

    def _trash(self) -> Path:
        return self.path.with_name(f".{self.path.name}.trash")

    def _clear_litter(self) -> None:
        """Remove what a kill can leave next to a zip target: a work folder being deleted, a half-written zip."""
        if self._trash().exists():
            shutil.rmtree(self._trash())
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)

    def _directory(self) -> PackageDirectory:
        return PackageDirectory(self.root, created_at=self.created_at, durable=self.durable)

    def _target(self) -> PackageDirectory:
        self._drop_reader()
        if self._writer is None:
            if self.is_zip:
                self._clear_litter()
            if self.is_zip and not self.root.exists() and self.path.exists():
                self._unpack_existing_zip()
            self._refuse_foreign_folder()
            self._writer = self._directory()
        return self._writer

    def _refuse_foreign_folder(self) -> None:
        """Never write into a folder that holds something else: compaction lists every file it finds
        and drops unused ones under files/ and mail/."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root} is a file, not a package folder: use a folder or a .zip path")
        if root.is_dir() and any(root.iterdir()) and not ((root / MANIFEST).exists() or (root / WORK_DIR).exists()):
            raise ConfigError(f"{root} is neither empty nor a package: write the package to a new or empty folder")

    def _unpack_existing_zip(self) -> None:
        """Writing to an existing zip: verify it, unpack it to the work folder, then write on top."""
        with PackageReader(self.path, self.limits, verify="full"):
            pass
        staging = self.root.with_name(self.root.name + ".unpacking")
        if staging.exists():
            shutil.rmtree(staging)  # left by a kill during a previous unpacking
        extract_all(self.path, staging, self.limits)
        staging.rename(self.root)  # atomic: the work folder is complete or absent
        fsync_dir(self.root.parent)

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _open_reader(self) -> PackageReader:
        if self._reader is not None:
            return self._reader
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.root.is_dir() and (self.root / WORK_DIR).exists():
            self._directory().compact()  # an unfinished target: every write so far becomes readable
        if self.root.is_dir():
            location = self.root
        elif self.path.exists():
            location = self.path
        else:
            raise UnreachableError(f"{self.path}: no package here (neither a folder nor a .zip)")
        self._reader = PackageReader(location, self.limits, verify=self.verify, on_problem=self.problems.add)
        return self._reader
