"""A report's temporary files, named after the process writing them so that the next report can
remove those of a writer that is dead; and the lock that lets one writer at a time write a run's
reports.

A report is written into hidden temporary files that are moved into place at the end
(:mod:`ent_migrate.report.writers`); a failure removes them. A process killed (SIGKILL, out of
memory, a power cut) cannot: its files stayed in the report folder for good, one set per kill, each
as large as the report, and a killed plan's revision folder held nothing else. Each file's name now
says which host and process made it (``.plan-report.csv.<host>-<pid>.<random>.tmp``), and a report
written for a run first removes the files of that run's folders whose process is gone from this
host, then the folders left empty.

Only a dead writer's files go: ``ent-migrate report`` writes without the store's lock, so another
process may be writing beside this one. A file of another host (a shared folder) or of an older
ent-migrate (no pid in its name) is left; so is one whose pid a live process took since: kept when
unsure, never removed under a writer.

:func:`run_folder_lock` is an ``flock`` on ``<run>/.report.lock``, held while a report of the run is
written and logged. ``ent-migrate report`` takes no store lock (it may run while an apply holds the
store), so two of them at once wrote one folder together: each moved its four files into place, and
their time stamps differ, so the folder could end with one's manifest beside the other's HTML, and
the store's log with a digest the folder does not hold. The second now waits for the first. A
process that dies releases it at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["remove_stale_temps", "run_folder_lock", "temp_prefix"]

_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]
# mkstemp's random part is letters, digits and "_": the name's last dot-free word before ".tmp".
_TEMP = re.compile(r"\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp")


def temp_prefix(name: str) -> str:
    """The prefix of a temporary file for *name* written by this process (mkstemp adds the rest)."""
    return f".{name}.{_HOST}-{os.getpid()}."


_LOCK_NAME = ".report.lock"


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold the lock on *run_dir*'s reports for the block (made if need be), waiting for another writer."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / _LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some NFS mounts): written as before, unlocked
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def remove_stale_temps(run_dir: Path) -> int:
    """Remove, in each folder of *run_dir*, the temporary report files of a process of this host that
    no longer runs, then each folder that is left empty; how many files went."""
    removed = 0
    try:
        folders = [p for p in run_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return 0  # no such run folder yet (the first report), or not readable: nothing of ours there
    for folder in folders:
        stale = [p for p in _temps(folder) if _dead(p.name)]
        for path in stale:
            try:
                path.unlink()
            except OSError:
                continue  # another report removed it first, or it is not ours to remove: never fatal
            removed += 1
        if stale:
            # Only if empty (a killed plan's revision folder had nothing else); one that holds a
            # report or another writer's files stays.
            with contextlib.suppress(OSError):
                folder.rmdir()
    return removed


def _temps(folder: Path) -> list[Path]:
    """The files of *folder* named as a report writer's temporary files (regular files only)."""
    try:
        named = [p for p in folder.iterdir() if _TEMP.fullmatch(p.name)]
    except OSError:
        return []
    return [p for p in named if p.is_file() and not p.is_symlink()]


def _dead(name: str) -> bool:
    found = _TEMP.fullmatch(name)
    if found is None or found["host"] != _HOST:
        return False
    pid = int(found["pid"])
    if pid == os.getpid():
        return False  # this process's own: a report it is writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False  # a live process of another user, or not a pid at all
    return False  # alive (or a zombie, or the pid reused): kept
