"""Files that hold personal data on purpose (the login letters' map, the review queue, the families'
notices and zips): written whole or not at all, readable by their owner only.

A crash or a full disk midway leaves the previous file (or none), never half a list of logins that a
project lead would then mail to families; and 0600 because the file names people by design.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from ent_migrate.errors import ConfigError

__all__ = ["refuse_if_others_can_read", "write_private", "write_private_text"]


def refuse_if_others_can_read(path: Path, what: str) -> None:
    """A ConfigError when users other than its owner may read the secret at *path* (*what* names it in
    the message, with the chmod that mends it), as ssh refuses such a private key. OSError passes up
    (a missing file is the caller's to word). Not on Windows, whose modes say nothing of this."""
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"{what} {path} can be read by other users (mode {mode & 0o777:04o}): "
            f"make it private with chmod 600 {path}, then run the command again"
        )


def write_private_text(path: Path, chunks: Iterable[str]) -> None:
    """Write *chunks* as UTF-8 to *path* (see :func:`write_private`)."""
    write_private(path, (chunk.encode("utf-8") for chunk in chunks))


def write_private(path: Path, chunks: Iterable[bytes]) -> None:
    """Write *chunks* to *path* through a 0600 temporary file, fsync, then rename over it."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; name the file to write")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc}); nothing was written") from None
