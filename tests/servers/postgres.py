"""A real PostgreSQL server for the tests, on 127.0.0.1 and a free port, torn down by pid.

``postgres_url`` (session) starts one postmaster from Debian's binaries in a private temp dir and yields
``postgresql+psycopg://postgres@127.0.0.1:PORT/ent_migrate``. ``postgres_database`` (function) creates a
fresh, empty database on that server for one test and drops it afterwards, so tests never see each
other's schemas.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` system user
(created by the Debian package; a dedicated user is created when it is absent) and the server is started
with ``Popen(user=...)`` so that the Popen pid *is* the postmaster's pid: stopping it never needs a
broad kill. When PostgreSQL is not installed the fixture fails with the command that installs it: a
skip would hide that the state store was never tested on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

__all__ = ["find_postgres_bin", "fresh_database", "postgres_database", "postgres_url"]

SUPERUSER = "postgres"
DATABASE = "ent_migrate"
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 30.0
_FALLBACK_USER = "entmigrate-pg"


def find_postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``postgres`` (newest Debian version first, then PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    which = shutil.which("initdb")
    if which:
        candidates.append(which)
    for initdb in candidates:
        folder = Path(initdb).parent
        if (folder / "postgres").is_file():
            return folder
    pytest.fail(
        "PostgreSQL is not installed (no initdb/postgres under /usr/lib/postgresql/*/bin or on PATH); "
        "the state-store tests need it: run `make test` as root, or `apt-get install postgresql`",
        pytrace=False,
    )


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account that owns the cluster when we run as root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, _FALLBACK_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _FALLBACK_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_FALLBACK_USER)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen arguments that drop to *account* (no shell, no su: the child pid stays the server's)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _wait_ready(proc: subprocess.Popen[bytes], conninfo: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"PostgreSQL exited with {proc.returncode}:\n{_tail(log)}", pytrace=False)
        try:
            with psycopg.connect(conninfo, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.1)
    pytest.fail(f"PostgreSQL did not accept connections in {_START_TIMEOUT}s ({last}):\n{_tail(log)}", pytrace=False)


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no server log)"


def _stop(proc: subprocess.Popen[bytes], data: Path) -> None:
    """Fast shutdown of the postmaster by its pid (the Popen's, cross-checked with postmaster.pid)."""
    pids = {proc.pid}
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids.add(int((data / "postmaster.pid").read_text().splitlines()[0]))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # SIGINT = "fast" shutdown: no waiting for clients
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a private PostgreSQL on 127.0.0.1; yield its SQLAlchemy URL; stop it by pid."""
    bindir = find_postgres_bin()
    account = _server_user()
    # Not pytest's tmp_path: its parent is 0700 root, which the unprivileged server user cannot traverse.
    root = Path(tempfile.mkdtemp(prefix="ent-migrate-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    log.touch()
    if account is not None:
        for path in (root, sockets, log):
            os.chown(path, account.pw_uid, account.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(root)}
    proc: subprocess.Popen[bytes] | None = None
    try:
        init = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C.UTF-8",
            ],
            cwd=root,
            env=env,
            capture_output=True,
            check=False,
            **_as_user(account),
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed ({init.returncode}): {init.stderr.decode(errors='replace')}", pytrace=False)
        # Loopback only, trust: a throw-away test cluster that nothing but this machine can reach.
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for attempt in range(5):
            port = _free_port()
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [
                        str(bindir / "postgres"),
                        "-D",
                        str(data),
                        "-p",
                        str(port),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-c",
                        f"unix_socket_directories={sockets}",
                        # Durability is not under test here; speed is welcome.
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ],
                    cwd=root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    **_as_user(account),
                )
            conninfo = f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres"
            time.sleep(0.05)
            if proc.poll() is not None and attempt < 4:  # port taken between probe and bind: try another
                continue
            _wait_ready(proc, conninfo, log)
            break
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        yield f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if proc is not None:
            _stop(proc, data)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(postgres_url: str, options: str = "") -> Iterator[str]:
    """A fresh, empty database on that server, created with *options* (``CREATE DATABASE name
    options``: a template, a locale), as a SQLAlchemy URL; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    base, _, _ = postgres_url.rpartition("/")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" {options}')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server for one test (dropped afterwards)."""
    with fresh_database(postgres_url) as url:
        yield url
