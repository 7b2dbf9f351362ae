"""A real OpenLDAP server (Debian ``slapd``) for the tests, on 127.0.0.1 and free ports, stopped by pid.

``slapd`` (session) starts one server from a static ``slapd.conf`` in a private temp dir: two mdb
databases (``dc=ent,dc=example`` for the connector's tests, ``dc=esco-centre,dc=fr`` for the ESCO sample
LDIF), our SDET test schema (fixtures/ldap/sdet.schema), LDAPS on one port and plain LDAP (for StartTLS
and the ``insecure`` tests) on another, with a server certificate for ``127.0.0.1`` signed by a throwaway
CA made here with ``trustme``. ``ldap_base`` (function) creates a fresh, empty subtree on it for one test.

The fault tests stop and start the server in the middle of an apply (:meth:`SlapdServer.stop` /
:meth:`SlapdServer.start`: same ports, same data). slapd runs in the foreground (``-d 0``), so the Popen
pid *is* the server's pid: stopping never needs a broad kill. When slapd is not installed the fixture
fails with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap
import pytest
import trustme

__all__ = ["SlapdServer", "ldap_base", "private_slapd", "running_slapd", "slapd"]

BASE = "dc=ent,dc=example"
SAMPLE_BASE = "dc=esco-centre,dc=fr"
ADMIN_PASSWORD = "test-only-" + uuid.uuid4().hex  # never a literal secret in a config: tests pass it by env
_SCHEMA = Path(__file__).resolve().parents[2] / "fixtures" / "ldap" / "sdet.schema"
_SYSTEM_SCHEMA = Path("/etc/ldap/schema")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SlapdServer:
    """One slapd: its ports, CA file, admin credentials; start/stop by pid with the same data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ldaps_port = _free_port()
        self.ldap_port = _free_port()
        self.admin_dn = f"cn=admin,{BASE}"
        self.sample_admin_dn = f"cn=admin,{SAMPLE_BASE}"
        self.password = ADMIN_PASSWORD
        self.ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert = self.ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(str(root / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
        self.log = root / "slapd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._configure()

    # -- URLs ----------------------------------------------------------------------------------
    def url(self, base: str = BASE, *, scheme: str = "ldaps", host: str = "127.0.0.1") -> str:
        port = self.ldaps_port if scheme == "ldaps" else self.ldap_port
        return f"{scheme}://{host}:{port}/{base}"

    def options(self, **extra: object) -> dict[str, object]:
        """Connector options that bind as the admin over verified TLS."""
        return {"bind_dn": self.admin_dn, "bind_password": self.password, "ca_file": str(self.ca_file), **extra}

    # -- life cycle ----------------------------------------------------------------------------
    def _configure(self) -> None:
        for name in ("db", "sample-db"):
            (self.root / name).mkdir()
        includes = "\n".join(
            f"include {_SYSTEM_SCHEMA / name}" for name in ("core.schema", "cosine.schema", "inetorgperson.schema")
        )
        databases = []
        for suffix, folder in ((BASE, "db"), (SAMPLE_BASE, "sample-db")):
            databases.append(f"""database mdb
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw {self.password}
directory {self.root / folder}
maxsize 2147483648
# Durability is not under test here; speed is welcome.
dbnosync
index objectClass eq
index ENTPersonJointure,ENTStructureUAI,cn eq
""")
        (self.root / "slapd.conf").write_text(f"""{includes}
include {_SCHEMA}
pidfile {self.root / "slapd.pid"}
argsfile {self.root / "slapd.args"}
modulepath /usr/lib/ldap
moduleload back_mdb
sizelimit unlimited
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {self.root / "server.pem"}
TLSCertificateKeyFile {self.root / "server.key"}
{"".join(databases)}""")
        test = subprocess.run(["slaptest", "-u", "-f", str(self.root / "slapd.conf")], capture_output=True, check=False)
        if test.returncode != 0:
            pytest.fail(f"slaptest refused the test config:\n{test.stderr.decode(errors='replace')}", pytrace=False)

    def start(self) -> None:
        """Start slapd (again) on the same ports and data; return once it answers over LDAPS."""
        urls = f"ldaps://127.0.0.1:{self.ldaps_port}/ ldap://127.0.0.1:{self.ldap_port}/"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["slapd", "-d", "0", "-h", urls, "-f", str(self.root / "slapd.conf")],
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"slapd exited with {self.proc.returncode}:\n{self._tail()}", pytrace=False)
            try:
                conn = self.admin()
                conn.unbind_s()
                return
            except ldap.LDAPError as exc:
                last = exc
                time.sleep(0.05)
        pytest.fail(f"slapd did not answer in {_START_TIMEOUT}s ({last}):\n{self._tail()}", pytrace=False)

    def stop(self) -> None:
        """Stop slapd by its pid (SIGINT: a clean shutdown that closes every connection)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=_STOP_TIMEOUT)

    def _tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no server log)"

    # -- helpers for tests ---------------------------------------------------------------------
    def admin(self, suffix: str = BASE) -> ldap.ldapobject.LDAPObject:
        """A python-ldap connection bound as the admin of *suffix*, over verified LDAPS."""
        conn = ldap.initialize(f"ldaps://127.0.0.1:{self.ldaps_port}")
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5.0)
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.ca_file))
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        conn.simple_bind_s(f"cn=admin,{suffix}", self.password)
        return conn

    def tool_env(self) -> dict[str, str]:
        """Environment for ldapadd/ldapsearch: trust the throwaway CA only."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LDAPTLS_CACERT": str(self.ca_file),
            "LDAPTLS_REQCERT": "demand",
            "HOME": str(self.root),
        }

    def fresh_base(self, name: str | None = None) -> str:
        """Create (if absent) ``ou=NAME,dc=ent,dc=example`` and return its DN."""
        dn = f"ou={name or 't-' + uuid.uuid4().hex},{BASE}"
        conn = self.admin()
        try:
            with contextlib.suppress(ldap.ALREADY_EXISTS):
                conn.add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [dn[3:].split(",")[0].encode()])])
        finally:
            conn.unbind_s()
        return dn


def _add_suffix_entries(server: SlapdServer) -> None:
    for suffix, org in ((BASE, b"ent"), (SAMPLE_BASE, b"esco-centre")):
        conn = server.admin(suffix)
        try:
            conn.add_s(suffix, [("objectClass", [b"dcObject", b"organization"]), ("dc", [org]), ("o", [org])])
        finally:
            conn.unbind_s()


@contextlib.contextmanager
def running_slapd() -> Iterator[SlapdServer]:
    """A started slapd with its two suffix entries, stopped by pid and removed on exit."""
    if shutil.which("slapd") is None or not _SYSTEM_SCHEMA.is_dir():
        pytest.fail("slapd is not installed; the LDAP tests need it: `apt-get install slapd ldap-utils`", pytrace=False)
    # Not pytest's tmp_path: a session fixture outlives every test's folder.
    root = Path(tempfile.mkdtemp(prefix="ent-migrate-slapd-"))
    server = SlapdServer(root)
    try:
        server.start()
        _add_suffix_entries(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    """Start a private slapd on 127.0.0.1 with TLS for the session; yield it; stop it by pid."""
    with running_slapd() as server:
        yield server


@pytest.fixture
def private_slapd() -> Iterator[SlapdServer]:
    """A slapd of this test's own, for tests that stop and start it (the fault tests)."""
    with running_slapd() as server:
        yield server


@pytest.fixture
def ldap_base(slapd: SlapdServer) -> str:
    """A fresh, empty subtree ``ou=t-…,dc=ent,dc=example`` for one test."""
    return slapd.fresh_base()
