"""The ``imap`` connector: IMAP accounts, source and target of mail, over verified TLS only.

Location: ``imap://HOST:PORT`` — IMAPS (port 993 by default), or STARTTLS with ``starttls = true`` (port
143). The certificate is always verified, against ``ca_file`` or the system's CAs; a server without
STARTTLS is refused, never used in clear.

Accounts: ``users`` maps each owner id (the model's person id) to its IMAP login; a target falls back to
``login_template`` (``{owner}``) for owners it is not given. Admin access is a master user (``master_user``,
Dovecot's ``login*master``, ``auth = "master"``) or a SASL PLAIN authorization identity (``auth =
"authzid"``); without a master user, ``users`` names one account whose own password is given. The
password is always a ``${ENV}`` reference (the config layer refuses a literal).

Messages are fetched with ``BODY.PEEK[]`` (never marking them read) and identified as every mail
connector does (:mod:`ent_migrate.mail`): raw SHA-256, content id, key per folder. Folders are matched
by SPECIAL-USE role (RFC 6154); names travel in modified UTF-7 (IMAPClient encodes them); the
hierarchy separator and the personal namespace prefix are recorded and hidden from the model's
"/"-separated names. A target APPENDs with flags and INTERNALDATE, takes the new UID from UIDPLUS
``APPENDUID`` when offered, checks flags and date after the first APPEND to each folder (problems
``mail.flag-refused``, ``mail.internaldate-ignored``), refuses a message over ``APPENDLIMIT`` (or
``max_message_size``) before sending it, and never expunges.

Options: :class:`ImapOptions`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import signal
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import imapclient  # type: ignore[import-untyped]  # IMAPClient ships no type hints
from imapclient.exceptions import (  # type: ignore[import-untyped]  # same package
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from ent_migrate.connectors._mail import Folder, MailConnector, Stored
from ent_migrate.contract import CheckResult, ConnectorOptions, Role
from ent_migrate.errors import ConfigError, TerminalError, TransientError, UnreachableError
from ent_migrate.mail import ROLE_NAMES, normalise_flags, utc_seconds
from ent_migrate.options import option

__all__ = ["ImapConnector", "ImapOptions"]

_AUTH = ("master", "authzid")
_FETCH_BYTES = 8 * 1024 * 1024  # one FETCH asks for about this much
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_NETWORK = (OSError, socket.timeout, ssl.SSLError, IMAPClientAbortError)


@dataclasses.dataclass(frozen=True, slots=True)
class ImapOptions(ConnectorOptions):
    password: str = option(help='the password (of master_user when set): "${ENV_VAR}", never a literal')
    users: Mapping[str, str] = option(help="owner id -> IMAP login of that owner's mailbox", empty_table=True)
    login_template: str = option("{owner}", "a target's login for an owner not in users ({owner} = owner id)")
    master_user: str | None = option(None, "admin login that opens every mailbox (Dovecot master user)")
    auth: str = option("master", 'with master_user: "master" (login*master) or "authzid" (SASL PLAIN)')
    master_separator: str = option("*", "between login and master user (Dovecot auth_master_user_separator)")
    ca_file: str | None = option(None, "CA bundle that signs the server's certificate (default: system CAs)")
    starttls: bool = option(False, "plain port upgraded with STARTTLS instead of IMAPS")
    folders: tuple[str, ...] = option((), "as a source, only these folders (model names, e.g. INBOX, Sent)")
    concurrency: int = option(4, "connections used at once")
    timeout: float = option(60.0, "seconds before a silent server is given up (then retried)")
    max_message_size: int | None = option(None, "a target's size limit when the server does not advertise one")
    crash_after_appends: int | None = option(None, "crash tests: SIGKILL this process once APPEND N+1 is on the server")

    def __post_init__(self) -> None:
        if self.auth not in _AUTH:
            raise ValueError(f"option auth must be one of {', '.join(_AUTH)}, not {self.auth!r}")
        if not 1 <= self.concurrency <= 64:
            raise ValueError("option concurrency must be between 1 and 64")
        if self.timeout <= 0:
            raise ValueError("option timeout must be positive")
        if self.crash_after_appends is not None and self.crash_after_appends < 0:
            raise ValueError("option crash_after_appends must be 0 or more")
        if "{owner}" not in self.login_template:
            raise ValueError("option login_template must contain {owner}")


def _code(text: str) -> str:
    """The IMAP response code of an error (``[OVERQUOTA]``), never the free text after it."""
    match = re.search(r"\[([A-Z][A-Z0-9-]*)", text)
    return f"[{match.group(1)}]" if match else "no response code"


def _endpoint(location: str, starttls: bool) -> tuple[str, int]:
    text = location[2:] if location.startswith("//") else location
    text = text.rstrip("/")
    if not text:
        raise ConfigError("imap needs a location: imap://HOST:PORT")
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        host, port = text, ""
    if port and not port.isdigit():
        raise ConfigError(f"imap location {location!r}: the port must be a number")
    return host, int(port) if port else (143 if starttls else 993)


class ImapConnector(MailConnector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "imap"
    summary: ClassVar[str] = "IMAP mailboxes (IMAPS/STARTTLS, master user), by SPECIAL-USE role, UIDPLUS."
    location_help: ClassVar[str] = "imap://HOST:PORT (IMAPS; STARTTLS with option starttls = true)"
    max_concurrency: ClassVar[int] = 16
    Options: ClassVar[type[ConnectorOptions]] = ImapOptions

    _process_appends: ClassVar[int] = 0  # APPENDs made by this process (crash_after_appends)

    options: ImapOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        self.host, self.port = _endpoint(location, self.options.starttls)
        if self.options.master_user is None and len(self.options.users) > 1:
            raise ConfigError(f"{where or 'imap options'}: several users need master_user (one password opens one)")
        self._local = threading.local()
        self._all: list[imapclient.IMAPClient] = []
        self._slots = threading.BoundedSemaphore(self.options.concurrency)
        self._written: set[str] = set()
        self._checked: set[tuple[str, str]] = set()
        self.layout: dict[str, str] = {}  # what the server said: separator, prefix, capabilities

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        owner = next(iter(self.options.users), None)
        try:
            client = self._open()
        except UnreachableError as exc:
            return CheckResult(reachable=False, authenticated=None, detail=str(exc))
        try:
            if owner is not None:
                self._login(client, owner)
            elif self.options.master_user is not None and self.options.auth == "authzid":
                client.plain_login(self.options.master_user, self.options.password)
            else:
                return CheckResult(reachable=True, authenticated=None, detail="no users to log in as")
        except UnreachableError as exc:
            return CheckResult(reachable=True, authenticated=False, detail=str(exc))
        finally:
            self._quietly_logout(client)
        return CheckResult(reachable=True, authenticated=True, detail=self._describe())

    def notices(self) -> list[str]:
        out = []
        caps = self.layout.get("capabilities", "")
        if caps and "UIDPLUS" not in caps.split():
            out.append("the IMAP server has no UIDPLUS: new messages are found by a folder read, slower")
        if caps and "SPECIAL-USE" not in caps.split():
            out.append("the IMAP server has no SPECIAL-USE: special folders are matched by their usual names")
        return out

    def close(self) -> None:
        for client in self._all:
            self._quietly_logout(client)
        self._all.clear()
        self._local = threading.local()

    # -- connections ---------------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.options.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"imap option ca_file: cannot load the CA bundle ({exc})") from None

    def _open(self) -> imapclient.IMAPClient:
        context = self._context()
        try:
            if self.options.starttls:
                client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=self.options.timeout)
                if b"STARTTLS" not in client.capabilities():
                    self._quietly_logout(client)
                    raise UnreachableError(f"{self.host}:{self.port} offers no STARTTLS; mail never goes in clear")
                client.starttls(context)
            else:
                client = imapclient.IMAPClient(
                    self.host, self.port, ssl=True, ssl_context=context, timeout=self.options.timeout
                )
        except ssl.SSLCertVerificationError as exc:
            raise UnreachableError(
                f"{self.host}:{self.port}: TLS certificate not trusted ({exc.verify_message})"
            ) from None
        except _NETWORK as exc:
            raise UnreachableError(f"{self.host}:{self.port}: cannot connect ({type(exc).__name__})") from None
        client.normalise_times = False  # aware datetimes: INTERNALDATE keeps its zone
        return client

    def _login(self, client: imapclient.IMAPClient, owner: str) -> None:
        login = self._login_name(owner)
        options = self.options
        try:
            if options.master_user is None:
                client.login(login, options.password)
            elif options.auth == "authzid":
                client.plain_login(options.master_user, options.password, authorization_identity=login)
            else:
                client.login(f"{login}{options.master_separator}{options.master_user}", options.password)
        except (LoginError, IMAPClientError):
            raise UnreachableError(f"{self.host}:{self.port}: authentication refused for one mailbox") from None
        if not self.layout:
            self._learn(client)

    def _login_name(self, owner: str) -> str:
        return self.options.users.get(owner) or self.options.login_template.format(owner=owner)

    def _learn(self, client: imapclient.IMAPClient) -> None:
        caps = sorted(c.decode("ascii", "replace") for c in client.capabilities())
        separator, prefix = "/", ""
        try:
            personal = client.namespace().personal
            if personal:
                prefix = personal[0][0] if isinstance(personal[0][0], str) else personal[0][0].decode()
                separator = (personal[0][1] or "/") if isinstance(personal[0][1], str) else personal[0][1].decode()
        except IMAPClientError:
            pass
        limit = next((c.partition("=")[2] for c in caps if c.startswith("APPENDLIMIT=")), "")
        self.layout = {"capabilities": " ".join(caps), "separator": separator, "prefix": prefix, "limit": limit}

    def _describe(self) -> str:
        tls = "STARTTLS" if self.options.starttls else "IMAPS"
        features = [
            c
            for c in ("UIDPLUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "UTF8=ACCEPT")
            if c in self.layout.get("capabilities", "").split()
        ]
        return (
            f"{tls}, separator {self.layout.get('separator')!r}, prefix {self.layout.get('prefix')!r}, "
            f"{', '.join(features) or 'no extensions'}"
        )

    def _client(self, owner: str) -> imapclient.IMAPClient:
        """This thread's connection, logged in as *owner*'s mailbox."""
        client: imapclient.IMAPClient | None = getattr(self._local, "client", None)
        if client is not None and self._local.owner == owner:
            return client
        if client is not None:
            self._quietly_logout(client)
            self._all.remove(client)
        client = self._open()
        self._login(client, owner)
        self._local.client, self._local.owner, self._local.selected = client, owner, None
        self._all.append(client)
        return client

    def _drop(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            self._quietly_logout(client)
            if client in self._all:
                self._all.remove(client)
        self._local.client = None

    @staticmethod
    def _quietly_logout(client: imapclient.IMAPClient) -> None:
        try:
            client.logout()
        except (IMAPClientError, *_NETWORK):
            try:
                client.shutdown()
            except (IMAPClientError, *_NETWORK):
                pass

    def _select(self, client: imapclient.IMAPClient, folder: Folder, *, readonly: bool) -> int:
        wanted = (folder.native, readonly)
        if getattr(self._local, "selected", None) == wanted:
            return int(self._local.uidvalidity)
        info = client.select_folder(folder.native, readonly=readonly)
        self._local.selected, self._local.uidvalidity = wanted, int(info[b"UIDVALIDITY"])
        return int(self._local.uidvalidity)

    def _call(self, owner: str, what: Any) -> Any:
        """Run ``what(client)`` on this thread's connection to *owner*; network failures are retryable."""
        with self._slots:
            try:
                return what(self._client(owner))
            except _NETWORK as exc:
                self._drop()
                raise TransientError(f"IMAP connection lost ({type(exc).__name__})") from None

    # -- store ---------------------------------------------------------------------------------
    def _owners(self) -> list[str]:
        return sorted(set(self.options.users) | self._written)

    def _list_folders(self, owner: str) -> list[Folder]:
        def run(client: imapclient.IMAPClient) -> list[Folder]:
            out = []
            prefix, sep = self.layout.get("prefix", ""), self.layout.get("separator", "/")
            for flags, delimiter, name in client.list_folders():
                attributes = {f.decode("ascii", "replace").lower() for f in flags}
                if "\\noselect" in attributes or "\\nonexistent" in attributes:
                    continue
                role = next((r for r in ROLE_NAMES if r.lower() in attributes), None)
                text = name if isinstance(name, str) else name.decode("utf-8", "replace")
                path = text[len(prefix) :] if prefix and text.startswith(prefix) else text
                separator = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or sep)
                out.append(Folder(text, path.replace(separator, "/") if separator != "/" else path, role))
            return out

        folders: list[Folder] = self._call(owner, run)
        if self.options.folders and self.role is not Role.TARGET:
            wanted = set(self.options.folders)
            folders = [f for f in folders if f.path in wanted or (f.role and ROLE_NAMES[f.role] in wanted)]
        return folders

    def _list_messages(self, owner: str, folder: Folder) -> Iterator[Stored]:
        def sizes(client: imapclient.IMAPClient) -> tuple[int, dict[int, int]]:
            validity = self._select(client, folder, readonly=True)
            client.noop()  # a folder already selected: see what was appended since
            uids = client.search("ALL")
            found = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
            return validity, {uid: int(data[b"RFC822.SIZE"]) for uid, data in found.items()}

        validity, by_uid = self._call(owner, sizes)
        batch: list[int] = []
        total = 0
        for uid in sorted(by_uid):
            batch.append(uid)
            total += by_uid[uid]
            if total >= _FETCH_BYTES or len(batch) >= 500:
                yield from self._fetch(owner, folder, validity, batch)
                batch, total = [], 0
        if batch:
            yield from self._fetch(owner, folder, validity, batch)

    def _fetch(self, owner: str, folder: Folder, validity: int, uids: list[int]) -> Iterator[Stored]:
        def run(client: imapclient.IMAPClient) -> dict[int, Any]:
            if self._select(client, folder, readonly=True) != validity:
                raise TerminalError("the folder's UIDVALIDITY changed while it was read")
            result: dict[int, Any] = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            return result

        found = self._call(owner, run)
        for uid in uids:
            data = found.get(uid)
            if data is None:
                continue  # expunged meanwhile
            yield Stored(f"{validity}:{uid}", bytes(data[b"BODY[]"]), tuple(data[b"FLAGS"]), data[b"INTERNALDATE"])

    def _get(self, owner: str, folder: Folder, handle: str) -> bytes:
        validity, _, uid = handle.partition(":")

        def run(client: imapclient.IMAPClient) -> bytes:
            if self._select(client, folder, readonly=True) != int(validity):
                raise TerminalError("the folder's UIDVALIDITY changed since it was read")
            found = client.fetch([int(uid)], ["BODY.PEEK[]"])
            if int(uid) not in found:
                client.noop()  # appended by another connection since this one selected the folder
                found = client.fetch([int(uid)], ["BODY.PEEK[]"])
            if int(uid) not in found:
                raise TerminalError("the message is no longer in its folder")
            return bytes(found[int(uid)][b"BODY[]"])

        result: bytes = self._call(owner, run)
        return result

    def _create_folder(self, owner: str, path: str, role: str | None) -> Folder:
        prefix, sep = self.layout.get("prefix", ""), self.layout.get("separator", "/")
        if sep != "/" and sep in path:
            raise TerminalError(f"the folder name holds the server's separator {sep!r}")
        tail = path.replace("/", sep) if sep != "/" else path
        if path.upper() == "INBOX":
            native = "INBOX"
        elif prefix and tail.upper().startswith(prefix.upper()):  # INBOX/x under an "INBOX." prefix (Courier)
            native = tail
        else:
            native = prefix + tail

        def run(client: imapclient.IMAPClient) -> None:
            if not client.folder_exists(native):
                client.create_folder(native)
            client.subscribe_folder(native)

        self._call(owner, run)
        self._written.add(owner)
        return Folder(native, path, role)

    def _limit(self) -> int | None:
        advertised = self.layout.get("limit", "")
        if advertised.isdigit():
            return int(advertised)
        return self.options.max_message_size

    def _append(
        self, owner: str, folder: Folder, wire: bytes, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> str:
        def run(client: imapclient.IMAPClient) -> bytes:
            try:
                result: bytes = client.append(folder.native, wire, flags=flags, msg_time=date)
            except IMAPClientAbortError:
                raise  # the connection is gone: _call makes it a retryable error
            except IMAPClientError as exc:
                text = str(exc)
                lowered = text.lower()
                if "TOOBIG" in text or "OVERQUOTA" in text or "too large" in lowered or "larger than" in lowered:
                    raise TerminalError(
                        f"the target refused the message as too big or over quota ({_code(text)})"
                    ) from None
                if any(code in text for code in ("[INUSE]", "[UNAVAILABLE]", "[SERVERBUG]")):
                    raise TransientError(f"the target cannot take the message now ({_code(text)})") from None
                # Only the response code: the server's text may quote a folder name.
                raise TerminalError(f"the target refused the message ({_code(text)})") from None
            return result

        self._written.add(owner)
        response = self._call(owner, run)
        if self.options.crash_after_appends is not None:
            with self._lock:
                ImapConnector._process_appends += 1
                if ImapConnector._process_appends > self.options.crash_after_appends:
                    # On the server, not yet acknowledged to the engine: the moment a re-run could duplicate.
                    os.kill(os.getpid(), signal.SIGKILL)
        match = _APPENDUID.search(response)
        handle = f"{match.group(1).decode()}:{match.group(2).decode()}" if match else ""
        if handle and (owner, folder.native) not in self._checked:
            self._checked.add((owner, folder.native))
            self._check_append(owner, folder, handle, flags, date, where)
        return handle

    def _check_append(
        self, owner: str, folder: Folder, handle: str, flags: tuple[str, ...], date: dt.datetime | None, where: str
    ) -> None:
        """Some servers drop keywords or ignore INTERNALDATE: look at the first message of each folder."""
        uid = int(handle.partition(":")[2])

        def run(client: imapclient.IMAPClient) -> Any:
            self._select(client, folder, readonly=True)
            client.noop()
            return client.fetch([uid], ["FLAGS", "INTERNALDATE"]).get(uid)

        data = self._call(owner, run)
        if data is None:
            return
        place = where
        kept = set(normalise_flags(data[b"FLAGS"]))
        for flag in flags:
            if flag not in kept:
                self.problems.add("mail.flag-refused", place, flag if flag.startswith("\\") else "a keyword")
        if date is not None and utc_seconds(data[b"INTERNALDATE"]) != date:
            self.problems.add("mail.internaldate-ignored", place)

    def _set_flags(self, owner: str, folder: Folder, handle: str, flags: tuple[str, ...]) -> str:
        validity, _, uid = handle.partition(":")

        def run(client: imapclient.IMAPClient) -> None:
            if self._select(client, folder, readonly=False) != int(validity):
                raise TerminalError("the folder's UIDVALIDITY changed; read the target again")
            current = client.get_flags([int(uid)]).get(int(uid), ())
            wanted = set(flags)
            have = set(normalise_flags(current))
            if wanted - have:
                client.add_flags([int(uid)], sorted(wanted - have), silent=True)
            if have - wanted:
                client.remove_flags([int(uid)], sorted(have - wanted), silent=True)

        self._call(owner, run)
        return handle
