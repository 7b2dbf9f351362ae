"""The HTTP client under every REST profile: httpx, verified TLS, and faults turned into the engine's errors.

Every answer is classified once, here, so that a profile never sees a fault as data:

==============================================  =============================================
429, 503 (``Retry-After`` in seconds or a date)  :class:`TransientError` with ``retry_after``
a profile's quota answer (entcore: 509           :class:`TransientError` with the profile's
``{"error": "quota_overflow"}``)                 back-off
other 5xx, a timeout, a reset, a truncated body  :class:`TransientError`
401 (after one renewal of the credentials),      :class:`UnreachableError`: the run cannot go on
a 3xx to the login page, a certificate that
does not verify
other 4xx, an error in a 200 body                :class:`TerminalError` (that item only)
==============================================  =============================================

The engine retries transient errors of writes with tenacity (honouring ``retry_after``); reads are
retried here, since nothing above a reader retries. ``Retry-After`` is capped (``max_retry_after``) and
jittered so that many workers do not come back at the same instant.

TLS is always verified (the system store, or ``ca_file``); the SHA-256 of the server certificate is
recorded from the first answer (:attr:`RestClient.tls_fingerprint`), and every distinct one seen is kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from ent_migrate.connectors.rest.auth import Auth
from ent_migrate.errors import TerminalError, TransientError, UnreachableError

__all__ = ["ClientSettings", "ErrorDecoder", "Reply", "RestClient", "parse_retry_after"]


class ErrorDecoder(Protocol):
    """What a profile says about its vendor's answers."""

    @property
    def login_paths(self) -> tuple[str, ...]:
        """Paths a redirect to which means "not authenticated" (entcore: /auth/login)."""

    def body_error(self, status: int, payload: Any) -> str | None:
        """An error carried in a successful answer's body, or None."""

    def error_message(self, status: int, payload: Any) -> str:
        """A short message for an error answer (no personal data)."""

    def is_quota(self, status: int, payload: Any) -> bool:
        """Is this answer the vendor's "over quota, come back later"?"""


@dataclasses.dataclass(frozen=True, slots=True)
class ClientSettings:
    base_url: str
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    concurrency: int = 4
    requests_per_second: float | None = None  # the vendor's request budget
    max_retry_after: float = 120.0
    read_attempts: int = 6
    quota_backoff: float = 30.0
    user_agent: str = "ent-migrate"


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    status: int
    payload: Any  # decoded JSON, or None for an empty body
    headers: httpx.Headers


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from *now*: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent
    or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    # Always verified: a CA file adds trust (a vendor's private CA), it never removes checking.
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class RestClient:
    """One vendor's HTTP API: base URL, auth, limits, error decoding. Thread-safe."""

    def __init__(
        self,
        settings: ClientSettings,
        auth: Auth,
        decoder: ErrorDecoder,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.base_url.startswith("https://"):
            raise UnreachableError(f"{settings.base_url}: only https:// URLs are accepted (TLS is always verified)")
        self.settings, self.auth, self.decoder = settings, auth, decoder
        self.sleep, self.clock = sleep, clock
        self.http = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            verify=_ssl_context(settings.ca_file),
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
            headers={"User-Agent": settings.user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._pace = threading.Lock()
        self._next_slot = 0.0
        #: SHA-256 (hex) of the first server certificate seen, and every distinct one
        self.tls_fingerprint: str | None = None
        self.tls_fingerprints: set[str] = set()
        self.requests = 0  # every request sent, retries included
        self.retried = 0

    # -- public --------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
    ) -> Reply:
        """Send one request and classify the answer; raise the engine's errors for faults.

        *retry* (default: for GET only) retries transient faults here, honouring ``Retry-After``;
        otherwise the first transient fault is raised for the engine to retry the whole operation."""
        method = method.upper()
        attempts = self.settings.read_attempts if (retry if retry is not None else method == "GET") else 1
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, json_body, form, params, headers)
            except _Renew:
                if renewed or not self.auth.can_renew:
                    raise UnreachableError(
                        f"{method} {path}: the server refused the credentials ({self.auth.kind} auth)"
                    ) from None
                renewed = True
                self.auth.invalidate()
                attempt -= 1
            except TransientError as exc:
                if attempt >= attempts:
                    raise
                self.retried += 1
                self.sleep(self._backoff(attempt, exc.retry_after))

    def close(self) -> None:
        self.http.close()

    # -- internals -----------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = min(self.settings.max_retry_after, 0.05 * 2 ** (attempt - 1))
        if retry_after is not None:
            base = min(self.settings.max_retry_after, retry_after)
        return float(base + random.uniform(0, max(0.01, base / 4)))  # noqa: S311 - jitter, not security

    def _paced(self) -> None:
        rate = self.settings.requests_per_second
        if not rate:
            return
        with self._pace:
            now = self.clock()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + 1.0 / rate
        if wait > 0:
            self.sleep(wait)

    def _once(
        self,
        method: str,
        path: str,
        json_body: Any,
        form: Mapping[str, Any] | None,
        params: Any,
        headers: Mapping[str, str] | None,
    ) -> Reply:
        self._paced()
        all_headers = dict(self.auth.headers(self.http, method))
        if headers:
            all_headers.update(headers)
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            all_headers.setdefault("Content-Type", "application/json")
        with self._slots:
            self.requests += 1
            try:
                response = self.http.request(
                    method, path, content=content, data=form, params=params, headers=all_headers
                )
            except httpx.ConnectError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc) or isinstance(exc.__cause__, ssl.SSLError):
                    raise UnreachableError(
                        f"{self.settings.base_url}: the server certificate does not verify ({_reason(exc)}); "
                        "give the vendor's CA with ca_file"
                    ) from None
                raise TransientError(f"{method} {path}: cannot connect ({_reason(exc)})") from None
            except httpx.RemoteProtocolError as exc:
                raise TransientError(f"{method} {path}: truncated or broken answer ({_reason(exc)})") from None
            except httpx.TransportError as exc:  # timeouts, resets
                raise TransientError(f"{method} {path}: {type(exc).__name__}") from None
        self._record_certificate(response)
        return self._classify(method, path, response)

    def _record_certificate(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(True)  # positional: the _ssl object takes no keywords
        if der:
            digest = hashlib.sha256(der).hexdigest()
            if digest not in self.tls_fingerprints:
                self.tls_fingerprints.add(digest)
                if self.tls_fingerprint is None:
                    self.tls_fingerprint = digest

    def _classify(self, method: str, path: str, response: httpx.Response) -> Reply:
        status = response.status_code
        where = f"{method} {path.split('?', 1)[0]}"
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            if any(p in location for p in self.decoder.login_paths):
                raise _Renew()
            raise TerminalError(f"{where}: unexpected redirect ({status})")
        if status == 401:
            raise _Renew()
        payload = _decode(response, where, status)
        if status in (429, 503):
            raise TransientError(
                f"{where}: {status}, the server asks to slow down",
                retry_after=self._cap(parse_retry_after(response.headers.get("Retry-After"))),
            )
        if self.decoder.is_quota(status, payload):
            raise TransientError(
                f"{where}: {status}, over the vendor's quota",
                retry_after=self._cap(
                    parse_retry_after(response.headers.get("Retry-After")) or self.settings.quota_backoff
                ),
            )
        if status >= 500:
            raise TransientError(f"{where}: server error {status}")
        if status >= 400:
            raise TerminalError(f"{where}: {status} {self.decoder.error_message(status, payload)}")
        problem = self.decoder.body_error(status, payload)
        if problem is not None:
            raise TerminalError(f"{where}: error in a {status} answer: {problem}")
        return Reply(status, payload, response.headers)

    def _cap(self, seconds: float | None) -> float | None:
        return None if seconds is None else min(seconds, self.settings.max_retry_after)


class _Renew(Exception):
    """The credentials were refused (401, a redirect to the login page): renew once, then give up."""


def _decode(response: httpx.Response, where: str, status: int) -> Any:
    body = response.content
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        if status < 300 and "json" in response.headers.get("Content-Type", ""):
            # A success whose JSON does not parse was cut short: worth another try.
            raise TransientError(f"{where}: truncated JSON answer ({len(body)} bytes)") from None
        return None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
