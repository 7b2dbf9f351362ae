"""A real Dovecot IMAP server for the tests, on 127.0.0.1 and free ports, stopped by pid.

``dovecot`` (session) starts Debian's ``dovecot`` in the foreground with a throwaway configuration in a
private temp dir: users from a passwd-file (a pool written before start, handed out one at a time by
:meth:`DovecotServer.add_user`), a master user (``user*master`` logins and SASL PLAIN authorization
identities), TLS with a certificate from a throwaway CA (trustme) on both an IMAPS port and a STARTTLS
port, SPECIAL-USE folders (Sent, Drafts, Trash, Junk, Archive — created only on demand), UIDPLUS and a
per-message size cap from the quota plugin (Dovecot 2.3 does not advertise it as APPENDLIMIT; the
connector's ``max_message_size`` says it). Plain-text logins without TLS are refused, as in production.

The Popen pid is the Dovecot master's (``-F``: no daemonising), so stopping never needs a broad kill.
When Dovecot is not installed the fixture fails with the command that installs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

__all__ = ["DovecotServer", "dovecot"]

MASTER_USER = "migrator"
#: accounts created before the server starts (handed out by DovecotServer.add_user)
POOL = 3000
#: the largest message the server accepts (quota_max_mail_size), advertised as APPENDLIMIT
APPEND_LIMIT = 8 * 1024 * 1024
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_MAIL_USER = "mail"  # Debian's mail account (uid 8) owns the test mailboxes


@dataclasses.dataclass
class DovecotServer:
    root: Path
    port: int  # IMAP with STARTTLS
    ssl_port: int  # IMAPS
    ca_file: Path
    master_user: str
    master_password: str
    pid: int
    users: dict[str, str] = dataclasses.field(default_factory=dict)
    host: str = "127.0.0.1"
    _pool: list[str] = dataclasses.field(default_factory=list)
    _next: int = 0

    def add_user(self) -> tuple[str, str]:
        """A fresh, empty mail account from the pool; returns (login, password)."""
        if self._next >= len(self._pool):
            raise RuntimeError(f"the test Dovecot's {POOL} accounts are all used; raise POOL")
        name = self._pool[self._next]
        self._next += 1
        return name, self.users[name]

    def maildir(self, user: str) -> Path:
        return self.root / "home" / user / "Maildir"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _write_passwd(self) -> None:
        # Written once, before the server starts: Dovecot re-reads a changed passwd-file only by mtime
        # (whole seconds), so accounts added while it runs would sometimes be unknown for a second.
        pw_uid, pw_gid = _mail_ids()
        self._pool = [f"u{i:04d}" for i in range(POOL)]
        self.users = {name: uuid.uuid4().hex for name in self._pool}
        lines = [
            f"{user}:{{PLAIN}}{password}:{pw_uid}:{pw_gid}::{self.root / 'home' / user}::"
            for user, password in self.users.items()
        ]
        (self.root / "passwd").write_text("\n".join(lines) + "\n")


def _mail_ids() -> tuple[int, int]:
    import pwd

    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(_MAIL_USER)
    return entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(root: Path, port: int, ssl_port: int) -> str:
    uid, _ = _mail_ids()
    internal = "dovecot" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    login = "dovenull" if os.geteuid() == 0 else internal
    return f"""
instance_name = ent-migrate-test-{root.name}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_master_user_separator = *
mail_location = maildir:~/Maildir
mail_fsync = never
mail_plugins = quota
mail_max_userip_connections = 64
imap_max_line_length = 2M
passdb {{
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {root}/master-users
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
  mailbox Archive {{
    special_use = \\Archive
  }}
  mailbox "Éléments envoyés" {{
    special_use = \\Sent
  }}
}}
plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=0
  quota_max_mail_size = {APPEND_LIMIT}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service imap {{
  process_limit = 128
  vsz_limit = 1G
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Dovecot exited with {proc.returncode}:\n{_tail(log)}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if sock.recv(64).startswith(b"* OK"):
                return
        time.sleep(0.05)
    pytest.fail(f"Dovecot did not greet in {_START_TIMEOUT}s:\n{_tail(log)}", pytrace=False)


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no server log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_TIMEOUT)


@contextlib.contextmanager
def run_dovecot() -> Iterator[DovecotServer]:
    """Start a private Dovecot; yield it; stop it by pid (also used by bench/mail.py)."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).is_file():
        pytest.fail("Dovecot is not installed: run `apt-get install dovecot-imapd` (see the Makefile)", pytrace=False)
    # Not pytest's tmp_path: its parent is 0700 root, which Dovecot's unprivileged processes cannot traverse.
    root = Path(tempfile.mkdtemp(prefix="ent-migrate-dovecot-"))
    root.chmod(0o755)
    uid, gid = _mail_ids()
    (root / "home").mkdir()
    os.chown(root / "home", uid, gid)
    for name in ("run", "state"):
        (root / name).mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    for pem in cert.cert_chain_pems[1:]:
        with (root / "server.pem").open("ab") as fh:
            fh.write(pem.bytes())
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    master_password = uuid.uuid4().hex
    (root / "master-users").write_text(f"{MASTER_USER}:{{PLAIN}}{master_password}\n")
    log = root / "dovecot.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(5):
            port, ssl_port = _free_port(), _free_port()
            (root / "dovecot.conf").write_text(_config(root, port, ssl_port))
            server = DovecotServer(root, port, ssl_port, root / "ca.pem", MASTER_USER, master_password, pid=0)
            server._write_passwd()
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(root / "dovecot.conf")],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=log.open("ab"),
            )
            time.sleep(0.1)
            if proc.poll() is not None and attempt < 4:  # a port taken between probe and bind: try others
                continue
            _wait_ready(proc, port, log)
            server.pid = proc.pid
            break
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """One Dovecot for the session; each test takes fresh users with ``add_user``."""
    with run_dovecot() as server:
        yield server
