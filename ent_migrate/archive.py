"""Safe reading of directories, zip and tar archives — every member checked, caps enforced while streaming.

Vendors hand back exports as folders, ``.zip`` or ``.tar``/``.tgz``/``.tar.gz`` files. Nothing in them is
trusted: a member name, a link, a size in a header can all be hostile (Zip Slip, zip bombs, tar link
tricks; REVERSIBILITY.md §3.3). This module is the only place that opens them.

API::

    from ent_migrate.archive import Limits, iter_members

    for member in iter_members(Path("export.zip")):        # or a directory, or a .tgz
        with member.open() as stream:                     # IO[bytes]; readline() works
            ...                                           # member.name: POSIX relative, e.g. "a/b.xml"

    # random access (zip and directories; tar works but rescans):
    with Archive(Path("package.zip")) as archive:
        archive.names()                                    # validated names, archive order
        archive.member("manifest.json").open()

- ``Member(name, size, compressed_size, open())``: ``name`` is POSIX, relative, normalised (a leading
  ``./`` is dropped); ``size`` is the size the header declares (the real size for a directory).
  ``open()`` can be called several times while the archive is open (until the iteration ends).
- Checks on every member, before it is yielded: no absolute path, no ``..``, no drive letter, no
  backslash, no empty or ``.`` part, no control character, no symlink / hardlink / device / fifo /
  socket (directories are walked without following symlinks and files opened with ``O_NOFOLLOW``),
  no duplicate name, no encrypted or sparse member; and the caps of :class:`Limits` on member count,
  per-member size, total size and compression ratio as declared by the headers.
- The same caps are enforced again *while reading*, on the bytes really produced: a header can lie.
  A member that yields more (or fewer) bytes than its header declared is refused too.
- tar members go through PEP 706's ``tarfile.data_filter`` (Python ≥ 3.11.4 required) on top of the
  checks above; links are refused outright rather than filtered.
- Unsafe → :class:`ent_migrate.errors.UnsafeArchiveError` whose ``where`` is ``archive:member``
  (or just ``archive``). So is any failure of the stdlib parsers on broken bytes (fuzz-tested): a
  caller never sees a raw ``BadZipFile``, ``EOFError`` or ``struct.error``.
  Lenient mode (``on_problem=problems.add``, any callable taking ``code, where, detail`` keywords): an
  unsafe member is skipped and reported with code ``archive.unsafe-member``; a cap on the whole archive
  (count, total size) stops the listing after a report. A cap broken *while reading* always raises,
  since the member was already handed out.
- Nothing is written to disk, except by :func:`extract_all`, which callers must ask for explicitly.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from ent_migrate.errors import EntMigrateError, InputError, UnreachableError, UnsafeArchiveError

__all__ = ["Archive", "Limits", "Member", "ProblemSink", "check_member_name", "extract_all", "iter_members"]

_UNSAFE = "archive.unsafe-member"
_CHUNK = 1 << 16
# A fake destination for tarfile.data_filter: it only computes paths, it never touches the disk.
_FILTER_DEST = "/nonexistent-ent-migrate-dest"
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps for one archive. Defaults fit a whole-school hand-back; tests and callers override them."""

    max_members: int = 200_000
    max_member_size: int = 8 << 30  # one video or mbox
    max_total_size: int = 64 << 30
    max_ratio: float = 100.0  # uncompressed / compressed
    ratio_min_size: int = 1 << 20  # small files compress wildly (a page of spaces); only judge big ones


class ProblemSink(Protocol):
    """What lenient mode calls; ``Problems.add`` fits."""

    def __call__(self, code: str, where: str, detail: str | None = None) -> None: ...


@dataclasses.dataclass(frozen=True)
class Member:
    """One regular file of an archive. ``open()`` returns a stream that enforces the caps as it reads."""

    name: str
    size: int
    compressed_size: int | None
    _opener: Callable[[], IO[bytes]] = dataclasses.field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        return self._opener()


def check_member_name(raw: str) -> str:
    """Return the normalised POSIX relative name, or raise ``ValueError`` saying what is wrong with it."""
    if not raw:
        raise ValueError("empty name")
    if _CONTROL.search(raw):
        raise ValueError("control character in name")
    if "\\" in raw:
        raise ValueError("backslash in name")
    if raw.startswith("/"):
        raise ValueError("absolute path")
    if _DRIVE.match(raw):
        raise ValueError("drive letter")
    name = raw
    while name.startswith("./"):  # tar -C dir . writes ./a/b
        name = name[2:]
    name = name.rstrip("/") if name.endswith("/") else name
    parts = name.split("/")
    if any(part == ".." for part in parts):
        raise ValueError("'..' in path")
    if any(part in ("", ".") for part in parts):
        raise ValueError("empty or '.' path segment")
    return name


#: Parsers of hostile bytes (zipfile, tarfile, gzip, zlib) fail in many ways — BadZipFile, EOFError,
#: struct.error, IndexError, NotImplementedError... Any exception from them that is not already ours
#: means "this member or archive cannot be read safely"; ours (EntMigrateError) pass through unchanged.
_READ_ERRORS = (Exception,)


class _State:
    """Bytes really produced per member (high-water mark, so re-opening does not double count)."""

    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.read: dict[str, int] = {}
        self.total = 0

    def account(self, name: str, produced: int) -> None:
        previous = self.read.get(name, 0)
        if produced > previous:
            self.total += produced - previous
            self.read[name] = produced
            if self.total > self.limits.max_total_size:
                raise UnsafeArchiveError(
                    f"total uncompressed size over the cap ({self.limits.max_total_size} bytes)",
                    where=f"{self.label}:{name}",
                )


class _Guard(io.RawIOBase):
    """Counts the bytes an inner stream really yields and enforces the caps on them."""

    def __init__(self, inner: IO[bytes], member: str, declared: int, compressed: int | None, state: _State) -> None:
        super().__init__()
        self._inner = inner
        self._member = member
        self._declared = declared
        self._compressed = compressed
        self._state = state
        self._produced = 0

    def readable(self) -> bool:
        return True

    def _fail(self, detail: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(detail, where=f"{self._state.label}:{self._member}")

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # typeshed wants a Buffer
        try:
            data = self._inner.read(len(buffer))
        except EntMigrateError:
            raise
        except _READ_ERRORS as exc:
            # zipfile raises on a bad CRC or a truncated stream: a header that lies ends up here.
            raise self._fail(f"member cannot be read safely ({type(exc).__name__})") from None
        count = len(data)
        buffer[:count] = data
        self._produced += count
        limits = self._state.limits
        if count == 0 and self._produced < self._declared:
            raise self._fail(f"member is shorter than its header says ({self._produced} < {self._declared} bytes)")
        if self._produced > self._declared:
            raise self._fail(f"member is larger than its header says (> {self._declared} bytes)")
        if self._produced > limits.max_member_size:
            raise self._fail(f"member over the size cap ({limits.max_member_size} bytes)")
        if (
            self._compressed is not None
            and self._produced > limits.ratio_min_size
            and self._produced > limits.max_ratio * max(self._compressed, 1)
        ):
            raise self._fail(f"compression ratio over the cap ({limits.max_ratio:g})")
        self._state.account(self._member, self._produced)
        return count

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class Archive:
    """An opened directory, zip or tar, with its validated member list. Use as a context manager."""

    def __init__(self, path: Path, limits: Limits | None = None, *, on_problem: ProblemSink | None = None) -> None:
        self.path = Path(path)
        self.label = self.path.name or str(self.path)
        self.limits = limits or Limits()
        self._on_problem = on_problem
        self._state = _State(self.label, self.limits)
        self._members: dict[str, Member] = {}
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._declared_total = 0
        try:
            if self.path.is_dir():  # the root may be a link the user chose; members are never followed
                self._scan_directory()
            elif not self.path.exists():
                raise UnreachableError(f"{self.path}: no such file or folder (check the spec's location)")
            elif not self.path.is_file():
                # A device, a pipe or a socket never ends (/dev/zero): refused before a byte is read.
                raise InputError("not a regular file or a folder", where=str(self.path))
            elif _is_zip(self.path):
                self._scan_zip()
            elif tarfile.is_tarfile(self.path):
                self._scan_tar()
            else:
                raise InputError("not a directory, a zip or a tar archive", where=str(self.path))
        except _Stop:
            pass
        except EntMigrateError:
            self.close()
            raise
        except _READ_ERRORS as exc:  # e.g. is_tarfile() on a broken gzip, zipfile on a broken extra field
            self.close()
            raise UnsafeArchiveError(
                f"archive cannot be read safely ({type(exc).__name__})", where=self.label
            ) from None
        except BaseException:
            self.close()
            raise

    # -- context manager -------------------------------------------------------------------------

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    # -- access ------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self._members.values()))

    def names(self) -> list[str]:
        return list(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def member(self, name: str) -> Member:
        try:
            return self._members[name]
        except KeyError:
            raise UnsafeArchiveError("no such member", where=f"{self.label}:{name}") from None

    # -- checks shared by every kind -------------------------------------------------------------

    def _refuse(self, raw: str, detail: str) -> None:
        where = f"{self.label}:{raw}"
        if self._on_problem is None:
            raise UnsafeArchiveError(detail, where=where)
        self._on_problem(code=_UNSAFE, where=where, detail=detail)

    def _check_directory(self, raw: str) -> None:
        """Directory entries yield nothing, but a hostile name still says the archive is hostile."""
        if raw in (".", "./"):  # the root, as ``tar -C dir .`` writes it
            return
        try:
            check_member_name(raw)
        except ValueError as exc:
            self._refuse(raw, str(exc))

    def _stop(self, raw: str, detail: str) -> None:
        """A cap on the whole archive: raise, or report and stop listing."""
        self._refuse(raw, detail)
        raise _Stop

    def _admit(self, raw: str, size: int, compressed: int | None) -> str | None:
        """Validate one member's header; return its name, or None when refused (lenient mode)."""
        limits = self.limits
        if len(self._members) >= limits.max_members:
            self._stop(raw, f"more members than the cap ({limits.max_members})")
        try:
            name = check_member_name(raw)
        except ValueError as exc:
            self._refuse(raw, str(exc))
            return None
        if name in self._members:
            self._refuse(raw, "duplicate member name")
            return None
        if size > limits.max_member_size:
            self._refuse(raw, f"member over the size cap ({limits.max_member_size} bytes)")
            return None
        if compressed is not None and size > limits.ratio_min_size and size > limits.max_ratio * max(compressed, 1):
            self._refuse(raw, f"compression ratio over the cap ({limits.max_ratio:g})")
            return None
        if self._declared_total + size > limits.max_total_size:
            self._stop(raw, f"total uncompressed size over the cap ({limits.max_total_size} bytes)")
        self._declared_total += size
        return name

    def _add(self, name: str, size: int, compressed: int | None, raw_open: Callable[[], IO[bytes]]) -> None:
        state = self._state

        def opener() -> IO[bytes]:
            try:
                inner = raw_open()
            except EntMigrateError:
                raise
            except _READ_ERRORS as exc:
                # a local header that contradicts the directory, an unknown compression method...
                raise UnsafeArchiveError(
                    f"member cannot be opened safely ({type(exc).__name__})", where=f"{state.label}:{name}"
                ) from None
            return io.BufferedReader(_Guard(inner, name, size, compressed, state), buffer_size=_CHUNK)

        self._members[name] = Member(name=name, size=size, compressed_size=compressed, _opener=opener)

    # -- directory ---------------------------------------------------------------------------------

    def _scan_directory(self) -> None:
        root = self.path
        pending: list[tuple[Path, str]] = [(root, "")]
        while pending:
            folder, prefix = pending.pop()
            with os.scandir(folder) as entries:
                ordered = sorted(entries, key=lambda entry: entry.name)
            subfolders: list[tuple[Path, str]] = []
            for entry in ordered:
                raw = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    self._refuse(raw, "symbolic link")
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append((Path(entry.path), raw + "/"))
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_nlink > 1:
                        # another name for a file that may live outside the folder (a planted /etc file)
                        self._refuse(raw, "hard link (the file has other names)")
                        continue
                    size = info.st_size
                    name = self._admit(raw, size, None)
                    if name is not None:
                        self._add(name, size, None, _file_opener(Path(entry.path)))
                else:
                    self._refuse(raw, "not a regular file (device, fifo or socket)")
            # depth-first in name order: the listing is deterministic
            pending.extend(reversed(subfolders))

    # -- zip ---------------------------------------------------------------------------------------

    def _scan_zip(self) -> None:
        try:
            self._zip = archive = zipfile.ZipFile(self.path)
            infos = archive.infolist()
        except _READ_ERRORS as exc:
            raise UnsafeArchiveError(f"not a readable zip ({type(exc).__name__})", where=self.label) from None
        if len(infos) > self.limits.max_members:
            self._stop("*", f"more members than the cap ({self.limits.max_members})")
        for info in infos:
            raw = info.filename
            # Unix mode in the high bits; many writers leave the file type at 0, which means a plain file.
            mode = (info.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                self._refuse(raw, "symbolic link")
                continue
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                self._refuse(raw, "not a regular file (device, fifo or socket)")
                continue
            if info.flag_bits & 0x1:
                self._refuse(raw, "encrypted member")
                continue
            if info.is_dir():
                self._check_directory(raw)
                continue
            name = self._admit(raw, info.file_size, info.compress_size)
            if name is not None:
                self._add(name, info.file_size, info.compress_size, _zip_opener(archive, info))

    # -- tar ---------------------------------------------------------------------------------------

    def _scan_tar(self) -> None:
        if not hasattr(tarfile, "data_filter"):  # pragma: no cover - guarded by requires-python in practice
            raise UnsafeArchiveError("this Python has no PEP 706 tar filter; use 3.11.4 or later", where=self.label)
        try:
            self._tar = archive = tarfile.open(self.path, mode="r:*")  # noqa: SIM115  # closed by close()
        except _READ_ERRORS as exc:
            raise UnsafeArchiveError(f"not a readable tar ({type(exc).__name__})", where=self.label) from None
        compressed_total = max(self.path.stat().st_size, 1)
        count = 0
        try:
            for info in archive:
                count += 1
                if count > self.limits.max_members:
                    self._stop(info.name, f"more members than the cap ({self.limits.max_members})")
                self._scan_tar_member(archive, info, compressed_total)
        except (EntMigrateError, _Stop):
            raise
        except _READ_ERRORS as exc:
            raise UnsafeArchiveError(f"tar cannot be read safely ({type(exc).__name__})", where=self.label) from None

    def _scan_tar_member(self, archive: tarfile.TarFile, info: tarfile.TarInfo, compressed_total: int) -> None:
        raw = info.name
        if info.issym() or info.islnk():
            self._refuse(raw, "link member")
            return
        if info.issparse():
            self._refuse(raw, "sparse member")
            return
        if not (info.isreg() or info.isdir()):
            self._refuse(raw, "not a regular file (device, fifo or socket)")
            return
        try:
            tarfile.data_filter(info, _FILTER_DEST)
        except tarfile.FilterError as exc:
            self._refuse(raw, f"refused by the PEP 706 data filter ({type(exc).__name__})")
            return
        if info.isdir():
            self._check_directory(raw)
            return
        # tar has no per-member compressed size: the whole file's size bounds the ratio.
        name = self._admit(raw, info.size, None)
        if name is None:
            return
        if self._declared_total > self.limits.ratio_min_size and (
            self._declared_total > self.limits.max_ratio * compressed_total
        ):
            self._stop(raw, f"compression ratio over the cap ({self.limits.max_ratio:g})")
        self._add(name, info.size, None, _tar_opener(archive, info, self.label))


class _Stop(Exception):
    """Internal: a whole-archive cap was hit in lenient mode; stop listing."""


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4)
    return head in (b"PK\x03\x04", b"PK\x05\x06") or (head[:2] == b"PK" and zipfile.is_zipfile(path))


def _file_opener(path: Path) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        # O_NOFOLLOW: the file may have been swapped for a link since the walk.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb")

    return opener


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        return archive.open(info)

    return opener


def _tar_opener(archive: tarfile.TarFile, info: tarfile.TarInfo, label: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        stream = archive.extractfile(info)
        if stream is None:  # pragma: no cover - only regular files are admitted
            raise UnsafeArchiveError("member has no data", where=f"{label}:{info.name}")
        return stream

    return opener


def iter_members(
    path: Path, limits: Limits | None = None, *, on_problem: ProblemSink | None = None
) -> Iterator[Member]:
    """Yield the safe regular-file members of a directory, zip or tar (see the module docstring)."""
    with Archive(path, limits, on_problem=on_problem) as archive:
        yield from archive


def extract_all(path: Path, dest: Path, limits: Limits | None = None) -> list[Path]:
    """Copy every safe member under ``dest`` (created if needed; existing files are never overwritten)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[Path] = []
    for member in iter_members(path, limits):
        target = (root / member.name).resolve()
        if os.path.commonpath([root, target]) != str(root):
            raise UnsafeArchiveError("member would land outside the destination", where=f"{path.name}:{member.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out, member.open() as stream:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
        written.append(target)
    return written
