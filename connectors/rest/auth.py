"""How the REST connector authenticates: one small class per kind, chosen by the ``authentication`` option.

=========================  ====================================================================
``none``                   no credentials (a test server, a reverse proxy that authenticates)
``bearer``                 a static token (``token = "${ENV}"``)
``basic``                  HTTP Basic for machine clients (``client_id`` + ``client_secret``)
``oauth2-client``          OAuth2 client credentials grant (RFC 6749 §4.4) against ``oauth_url``
``oauth2-password``        OAuth2 resource owner password grant (§4.3): ``username`` + ``password``
``session``                form login (``login_path``) that sets a session cookie, and an XSRF
                           token read from a cookie and echoed in a header on every write
=========================  ====================================================================

Tokens are cached and refreshed ``renew_margin`` seconds before they expire (and at once after a
401). Secrets come only from the options, which the config layer fills from ``${ENV}`` references; no
secret is ever put in a message.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ent_migrate.errors import ConfigError, TransientError, UnreachableError

__all__ = ["AUTH_KINDS", "Auth", "BasicAuth", "BearerAuth", "NoAuth", "OAuth2Auth", "SessionAuth", "make_auth"]

AUTH_KINDS = ("none", "bearer", "basic", "oauth2-client", "oauth2-password", "session")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Auth:
    """Base: adds credentials to a request; ``invalidate`` forgets them after a refusal."""

    kind = "none"

    def headers(self, http: httpx.Client, method: str) -> Mapping[str, str]:
        return {}

    def invalidate(self) -> None:
        """Forget cached credentials (a 401, a redirect to the login page); the next request logs in again."""

    @property
    def can_renew(self) -> bool:
        """Whether :meth:`invalidate` then a new request can fix a refusal (static credentials cannot)."""
        return False


class NoAuth(Auth):
    kind = "none"


class BearerAuth(Auth):
    kind = "bearer"

    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def headers(self, http: httpx.Client, method: str) -> Mapping[str, str]:
        return {"Authorization": self._value}


class BasicAuth(Auth):
    kind = "basic"

    def __init__(self, user: str, secret: str) -> None:
        self._value = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")

    def headers(self, http: httpx.Client, method: str) -> Mapping[str, str]:
        return {"Authorization": self._value}


class OAuth2Auth(Auth):
    """Client credentials or password grant; the client authenticates to the token endpoint with HTTP
    Basic (RFC 6749 §2.3.1), as entcore's ``/auth/oauth2/token`` expects."""

    def __init__(
        self,
        oauth_url: str,
        client_id: str,
        client_secret: str,
        *,
        grant: str,
        username: str = "",
        password: str = "",
        scope: str = "",
        refresh_margin: float = 30.0,
        quota_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = "oauth2-client" if grant == "client_credentials" else "oauth2-password"
        self.oauth_url, self.grant, self.scope = oauth_url, grant, scope
        self._client = httpx.BasicAuth(client_id, client_secret)
        self._username, self._password = username, password
        self.refresh_margin, self.quota_backoff = refresh_margin, quota_backoff
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0  # how many times the token endpoint was called (tests, reports)

    @property
    def can_renew(self) -> bool:
        return True

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def headers(self, http: httpx.Client, method: str) -> Mapping[str, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires - self.refresh_margin:
                self._fetch(http)
            return {"Authorization": f"Bearer {self._token}"}

    def _fetch(self, http: httpx.Client) -> None:
        form = {"grant_type": self.grant}
        if self.scope:
            form["scope"] = self.scope
        if self.grant == "password":
            form.update(username=self._username, password=self._password)
        try:
            response = http.post(self.oauth_url, data=form, auth=self._client, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}") from None
        self.tokens_fetched += 1
        payload = _json_or_none(response)
        if response.status_code == 509:  # entcore: {"error": "quota_overflow"}, the sessions limit
            raise TransientError("token endpoint over quota (509)", retry_after=self.quota_backoff)
        if response.status_code in (429, 503) or response.status_code >= 500:
            raise TransientError(f"token endpoint answered {response.status_code}")
        if response.status_code != 200 or not isinstance(payload, dict) or not payload.get("access_token"):
            error = payload.get("error") if isinstance(payload, dict) else None
            raise UnreachableError(
                f"the token endpoint refused the credentials ({response.status_code}"
                f"{', ' + str(error) if error else ''}): check client_id and the secret's environment variable"
            )
        self._token = str(payload["access_token"])
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        self._expires = self.clock() + lifetime


class SessionAuth(Auth):
    """Form login that sets a session cookie (kept in the client's cookie jar) and an XSRF cookie whose
    value is sent back in a header on writes (entcore: ``oneSessionId``, ``XSRF-TOKEN``, ``X-XSRF-TOKEN``)."""

    kind = "session"

    def __init__(
        self,
        login_path: str,
        username: str,
        password: str,
        *,
        session_cookie: str = "oneSessionId",
        xsrf_cookie: str = "XSRF-TOKEN",
        xsrf_header: str = "X-XSRF-TOKEN",
        username_field: str = "email",
        password_field: str = "password",  # noqa: S107 - the name of a form field, not a password
    ) -> None:
        self.login_path, self.session_cookie = login_path, session_cookie
        self.xsrf_cookie, self.xsrf_header = xsrf_cookie, xsrf_header
        self._form = {username_field: username, password_field: password}
        self._logged_in = False
        self._lock = threading.Lock()
        self.logins = 0

    @property
    def can_renew(self) -> bool:
        return True

    def invalidate(self) -> None:
        with self._lock:
            self._logged_in = False

    def headers(self, http: httpx.Client, method: str) -> Mapping[str, str]:
        with self._lock:
            if not self._logged_in:
                self._login(http)
            if method.upper() in _WRITE_METHODS:
                token = http.cookies.get(self.xsrf_cookie)
                if token:
                    return {self.xsrf_header: token}
        return {}

    def _login(self, http: httpx.Client) -> None:
        http.cookies.clear()
        try:
            response = http.post(self.login_path, data=self._form, follow_redirects=False)
        except httpx.TransportError as exc:
            raise TransientError(f"login page unreachable: {type(exc).__name__}") from None
        self.logins += 1
        if response.status_code == 509 or response.status_code in (429, 503) or response.status_code >= 500:
            raise TransientError(f"login answered {response.status_code}")
        if not http.cookies.get(self.session_cookie):
            raise UnreachableError(
                f"login at {self.login_path} did not open a session (HTTP {response.status_code}, no "
                f"{self.session_cookie} cookie): check username and the password's environment variable"
            )
        self._logged_in = True


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def make_auth(options: Any, *, clock: Callable[[], float] = time.monotonic) -> Auth:
    """The :class:`Auth` the connector options ask for (``options`` is the connector's Options)."""
    kind = options.authentication

    def need(*names: str) -> None:
        missing = [n for n in names if not getattr(options, n)]
        if missing:
            raise ConfigError(f"auth = {kind!r} needs option {', '.join(missing)}")

    if kind == "none":
        return NoAuth()
    if kind == "bearer":
        need("token")
        return BearerAuth(options.token)
    if kind == "basic":
        need("client_id", "client_secret")
        return BasicAuth(options.client_id, options.client_secret)
    if kind in ("oauth2-client", "oauth2-password"):
        need("oauth_url", "client_id", "client_secret")
        if kind == "oauth2-password":
            need("username", "password")
        return OAuth2Auth(
            options.oauth_url,
            options.client_id,
            options.client_secret,
            grant="client_credentials" if kind == "oauth2-client" else "password",
            username=options.username,
            password=options.password,
            scope=options.scope,
            refresh_margin=options.renew_margin,
            quota_backoff=options.quota_backoff,
            clock=clock,
        )
    if kind == "session":
        need("login_path", "username", "password")
        return SessionAuth(options.login_path, options.username, options.password)
    raise ConfigError(f"auth must be one of {', '.join(AUTH_KINDS)}, not {kind!r}")  # pragma: no cover
