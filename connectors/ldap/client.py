"""python-ldap connections: verified TLS, a pool for concurrent writes, reconnection, paged search.

Why python-ldap (libldap, C) and not ldap3 (pure Python), measured on this machine with 20,000 SDET
entries over LDAPS (see bench/ldap.py): paged reads 44,000 entries/s with python-ldap vs 7,100 with
ldap3 (ldapsearch: 29,300); adds 4,200/s on one connection and 8,200/s on four with python-ldap vs
1,000 and 1,200 with ldap3 (the GIL serialises its BER encoding; ldapadd: 4,700). ldap3 reaches the
aim (70 % of the OpenLDAP tools) on neither path.

Security: ``ldaps://``, or ``ldap://`` with StartTLS before the bind; the certificate is always
verified (``OPT_X_TLS_DEMAND``, the CA file, libldap's host-name check). Plain LDAP only with
``insecure``, which the connector announces on every run.

Errors: busy, unavailable, time limit, server down / connection lost are retried here on a fresh
connection (``reconnect_attempts``), then raised as :class:`TransientError` for the engine's own
retry; bad credentials are :class:`UnreachableError`; the rest is left to the caller, which turns
what it does not expect into :class:`TerminalError`. Messages carry the LDAP result name, never a DN
or a value (they may hold names).
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import ldap
import ldap.dn
from ldap.controls import SimplePagedResultsControl
from ldap.ldapobject import LDAPObject

from ent_migrate.errors import ConfigError, TerminalError, TransientError, UnreachableError

__all__ = ["TRANSIENT", "Endpoint", "Pool", "Settings", "TlsRefusedError", "ldap_error", "parse_location"]

T = TypeVar("T")

#: result codes worth a retry on a fresh connection
TRANSIENT: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.TIMEOUT,
)
_AUTH = (
    ldap.INVALID_CREDENTIALS,
    ldap.INAPPROPRIATE_AUTH,
    ldap.STRONG_AUTH_REQUIRED,
    ldap.CONFIDENTIALITY_REQUIRED,
    ldap.INSUFFICIENT_ACCESS,
)


def ldap_error(exc: ldap.LDAPError) -> str:
    """The result's name and server text, without the matched DN (it may hold names)."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    desc = str(info.get("desc", type(exc).__name__))
    extra = str(info.get("info", ""))
    # The server's text names attributes and rules; a "=" means it quotes a DN, which is dropped.
    return f"{desc} ({extra})" if extra and "=" not in extra else desc


class TlsRefusedError(UnreachableError):
    """The server answers but its certificate is refused (unknown CA, another host name)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """What the location URL says: server URI and base DN."""

    uri: str  # ldap://host:port or ldaps://host:port
    base_dn: str
    tls: bool  # ldaps://

    @property
    def host(self) -> str:
        return urlsplit(self.uri).hostname or ""


def parse_location(location: str) -> Endpoint:
    """``ldaps://host[:port]/BASE-DN`` (the base DN percent-encoded as in RFC 4516 when it must be)."""
    parts = urlsplit(location)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ConfigError(f"ldap location must be ldaps://HOST[:PORT]/BASE-DN or ldap://…, not {location!r}")
    if parts.username or parts.password:
        raise ConfigError("ldap location must not hold credentials: use the bind_dn and bind_password options")
    base = unquote(parts.path.lstrip("/"))
    if not base:
        raise ConfigError("ldap location has no base DN: write it after the host, e.g. ldaps://host/dc=ent,dc=fr")
    try:
        ldap.dn.str2dn(base)
    except ldap.DECODING_ERROR:
        raise ConfigError("ldap location: the base DN is not a valid DN") from None
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoint(uri=f"{parts.scheme}://{host}{port}", base_dn=base, tls=parts.scheme == "ldaps")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    endpoint: Endpoint
    bind_dn: str | None
    bind_password: str | None
    ca_file: str | None
    start_tls: bool
    insecure: bool
    connect_timeout: float
    timeout: float
    reconnect_attempts: int
    reconnect_delay: float


class Pool:
    """Up to *size* bound connections, one per thread at a time; ``close`` unbinds every one."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = settings
        self.size = size
        self._idle: queue.LifoQueue[LDAPObject] = queue.LifoQueue()
        self._open: set[LDAPObject] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self.reconnects = 0  # fresh connections made after a transient failure (tests and bench read it)

    # -- connections -------------------------------------------------------------------------------
    def connect(self) -> LDAPObject:
        """A new connection: TLS set up and verified, StartTLS before the bind, then bound."""
        s = self.settings
        conn = ldap.initialize(s.endpoint.uri)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, s.connect_timeout)
        conn.set_option(ldap.OPT_TIMEOUT, s.timeout)
        if s.endpoint.tls or s.start_tls:
            conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
            if s.ca_file:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, s.ca_file)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: applies the options above to this connection
        try:
            if s.start_tls and not s.endpoint.tls:
                conn.start_tls_s()
            if s.bind_dn:
                conn.simple_bind_s(s.bind_dn, s.bind_password or "")
        except _AUTH as exc:
            _unbind(conn)
            raise UnreachableError(f"LDAP server {s.endpoint.host} refused the bind: {ldap_error(exc)}") from None
        except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR):
            _unbind(conn)
            # libldap says "can't contact" for a failed TLS handshake too: if the port answers TCP, the
            # server is up and its certificate was refused, which no retry will change.
            if (s.endpoint.tls or s.start_tls) and _tcp_answers(s.endpoint, s.connect_timeout):
                raise TlsRefusedError(
                    f"TLS with {s.endpoint.host} failed: its certificate is not signed by a trusted CA "
                    "(option ca_file) or does not name that host"
                ) from None
            raise
        except ldap.LDAPError:
            _unbind(conn)
            raise
        with self._lock:
            self._open.add(conn)
        return conn

    def _take(self) -> LDAPObject:
        self._slots.acquire()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            try:
                return self.connect()
            except BaseException:
                self._slots.release()
                raise

    def _give(self, conn: LDAPObject) -> None:
        self._idle.put(conn)
        self._slots.release()

    def _discard(self, conn: LDAPObject) -> None:
        with self._lock:
            self._open.discard(conn)
        _unbind(conn)
        self._slots.release()

    def close(self) -> None:
        """Unbind every connection this pool opened."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            _unbind(conn)
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    # -- calls -------------------------------------------------------------------------------------
    def call(self, fn: Callable[[LDAPObject], T], what: str) -> T:
        """``fn(connection)``, retried on a fresh connection after a transient failure."""
        attempts = self.settings.reconnect_attempts + 1
        last: ldap.LDAPError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.settings.reconnect_delay * attempt)
            try:
                conn = self._take()
            except TRANSIENT as exc:
                last = exc
                continue
            try:
                result = fn(conn)
            except TRANSIENT as exc:
                self._discard(conn)  # a lost connection is never reused
                self.reconnects += 1
                last = exc
                continue
            except BaseException:
                self._give(conn)
                raise
            self._give(conn)
            return result
        assert last is not None
        raise TransientError(
            f"LDAP {what} on {self.settings.endpoint.host}: {ldap_error(last)} (after {attempts} connection attempts)",
            retry_after=self.settings.reconnect_delay,
        )

    @contextlib.contextmanager
    def connection(self, what: str) -> Iterator[LDAPObject]:
        """One connection held for a whole paged search (its cookie belongs to that connection)."""
        attempts = self.settings.reconnect_attempts + 1
        last: ldap.LDAPError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.settings.reconnect_delay * attempt)
            try:
                held = self._take()
                break
            except TRANSIENT as exc:
                last = exc
        else:
            assert last is not None
            raise TransientError(f"LDAP {what} on {self.settings.endpoint.host}: {ldap_error(last)}")
        try:
            yield held
        except TRANSIENT:
            self._discard(held)
            raise
        except BaseException:
            self._give(held)
            raise
        else:
            self._give(held)

    def search(
        self, base: str, scope: int, filterstr: str, attrs: list[str] | None, page_size: int, what: str
    ) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Every entry under *base* matching *filterstr*, page by page (RFC 2696 simple paged results).
        A base that does not exist yields nothing. A connection lost mid-search is a TransientError:
        a restarted search would yield the first pages again.

        A thread fetches the next page while the caller turns this one into records: libldap decodes
        BER in C without the GIL, so on two cores the fetch costs little more than the mapping."""
        pages: queue.Queue[list[tuple[str, dict[str, list[bytes]]]] | BaseException | None] = queue.Queue(2)
        stop = threading.Event()

        def put(item: list[tuple[str, dict[str, list[bytes]]]] | BaseException | None) -> None:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def fetch() -> None:
            try:
                with self.connection(what) as conn:
                    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
                    while not stop.is_set():
                        msgid = conn.search_ext(base, scope, filterstr, attrlist=attrs, serverctrls=[control])
                        _, data, _, controls = conn.result3(msgid)
                        put([(dn, attributes) for dn, attributes in data if dn is not None])  # no referrals
                        cookie = next(
                            (c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType), b""
                        )
                        if not cookie:
                            break
                        control.cookie = cookie
            except BaseException as exc:  # handed to the caller's thread, which raises it
                put(exc)
            else:
                put(None)

        fetcher = threading.Thread(target=fetch, name="ldap-paged-search", daemon=True)
        fetcher.start()
        try:
            while True:
                item = pages.get()
                if item is None:
                    return
                if isinstance(item, ldap.NO_SUCH_OBJECT):
                    return
                if isinstance(item, TRANSIENT):
                    raise TransientError(f"LDAP {what} on {self.settings.endpoint.host}: {ldap_error(item)}")
                if isinstance(item, ldap.LDAPError):
                    raise TerminalError(f"LDAP {what}: {ldap_error(item)}")
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            stop.set()  # a caller that stops early (or fails) releases the fetcher and its connection
            fetcher.join(timeout=self.settings.timeout)

    def read_entry(self, dn: str, attrs: list[str]) -> dict[str, list[bytes]] | None:
        """One entry's attributes (None when it does not exist)."""

        def read(conn: LDAPObject) -> dict[str, list[bytes]] | None:
            try:
                found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs)
            except ldap.NO_SUCH_OBJECT:
                return None
            return found[0][1] if found else None

        return self.call(read, "read")


def _tcp_answers(endpoint: Endpoint, timeout: float) -> bool:
    parts = urlsplit(endpoint.uri)
    port = parts.port or (636 if endpoint.tls else 389)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _unbind(conn: LDAPObject) -> None:
    with contextlib.suppress(ldap.LDAPError):
        conn.unbind_s()
