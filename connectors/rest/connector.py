"""The ``rest`` connector: one vendor HTTP API, described by a profile.

Location: the API's base URL, ``https://HOST[:PORT]/PATH`` (``rest:https://ent.example.fr/scim/v2``).
The ``profile`` option names the vendor (``ent-migrate connectors about rest`` lists them).

Options: :class:`RestOptions`. Secrets (``client_secret``, ``password``, ``token``) are ``"${ENV}"``
references in a config file; the config layer refuses literals. TLS is always verified; ``ca_file``
adds a vendor's private CA. The server certificate's SHA-256 is in ``check()``'s detail and in
:attr:`RestConnector.tls_fingerprint` once the first request has been answered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ent_migrate.connectors.rest.auth import AUTH_KINDS, make_auth
from ent_migrate.connectors.rest.client import ClientSettings, RestClient
from ent_migrate.connectors.rest.profiles import PROFILES, profile_class
from ent_migrate.connectors.rest.profiles.base import Profile
from ent_migrate.contract import (
    CAPABILITY_KINDS,
    Capability,
    CheckResult,
    Connector,
    ConnectorOptions,
    Operation,
    Role,
    TargetRules,
    capability_for_kind,
)
from ent_migrate.errors import ConfigError, ConnectorError, TerminalError, UnreachableError
from ent_migrate.model import Function, Group, Guardianship, Membership, Person, RecordKind, Structure
from ent_migrate.options import option

__all__ = ["RestConnector", "RestOptions"]


@dataclasses.dataclass(frozen=True, slots=True)
class RestOptions(ConnectorOptions):
    profile: str = option("scim", "the vendor profile: " + ", ".join(sorted(PROFILES)))
    # Not "auth": the config layer treats keys named auth, token... as secrets that must be ${ENV} references.
    authentication: str = option(
        "", "none | bearer | basic | oauth2-client | oauth2-password | session (default: the profile's)"
    )
    client_id: str = option("", "OAuth2 client id, or the Basic machine client's user")
    client_secret: str = option("", 'OAuth2 client secret or Basic password: "${ENV}"')
    username: str = option("", "the account of a password grant or a session login")
    password: str = option("", 'its password: "${ENV}"')
    token: str = option("", 'a static bearer token: "${ENV}"')
    oauth_url: str = option("", "OAuth2 token endpoint (default: the profile's, under the base URL's host)")
    scope: str = option("", "OAuth2 scope")
    login_path: str = option("", "session login form (default: the profile's)")
    renew_margin: float = option(30.0, "seconds before expiry when a token is renewed")
    ca_file: str | None = option(None, "a PEM file of CA certificates to trust as well (TLS is always verified)")
    concurrency: int = option(4, "requests in flight at once (apply's workers are capped by it)")
    requests_per_second: float | None = option(None, "the vendor's request budget: never more than this per second")
    connect_timeout: float = option(10.0, "seconds to connect")
    read_timeout: float = option(60.0, "seconds to wait for an answer")
    max_retry_after: float = option(120.0, "cap of one wait the server asks for (Retry-After, quota back-off)")
    read_attempts: int = option(6, "attempts of one read request before giving up")
    quota_backoff: float = option(30.0, "seconds to wait after a quota answer without Retry-After")
    page_size: int = option(200, "resources per page when listing")
    prefetch_index: bool = option(True, "list the target's external ids once instead of one search per create")
    bulk: bool = option(True, "use /Bulk when the server advertises it (SCIM)")
    structures: tuple[str, ...] = option((), "UAIs to read (Edifice: whole-array lists by structure)")

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"option profile must be one of {', '.join(sorted(PROFILES))}, not {self.profile!r}")
        if self.authentication and self.authentication not in AUTH_KINDS:
            raise ValueError(
                f"option authentication must be one of {', '.join(AUTH_KINDS)}, not {self.authentication!r}"
            )
        for name in ("concurrency", "read_attempts", "page_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"option {name} must be 1 or more")
        for name in ("connect_timeout", "read_timeout", "max_retry_after", "quota_backoff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"option {name} must be more than 0")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("option requests_per_second must be more than 0")


def _profile_summary() -> str:
    return "; ".join(f"{name}: {cls.summary}" for name, cls in sorted(PROFILES.items()))


class RestConnector(Connector):
    # -- identity ------------------------------------------------------------------------------
    name: ClassVar[str] = "rest"
    summary: ClassVar[str] = "Vendor HTTP APIs through profiles (" + ", ".join(sorted(PROFILES)) + ")"
    roles: ClassVar[frozenset[Role]] = frozenset({Role.SOURCE, Role.TARGET})
    # The union of what the profiles support; each profile refuses, by name, what it does not.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS, Capability.DELETE, Capability.READ_BACK}
    )
    location_help: ClassVar[str] = (
        "the API base URL, https://HOST[:PORT]/PATH; profile = ... names the vendor. Profiles: " + _profile_summary()
    )
    max_concurrency: ClassVar[int] = 32
    Options: ClassVar[type[ConnectorOptions]] = RestOptions

    options: RestOptions

    # -- configuration -------------------------------------------------------------------------
    def __init__(
        self, location: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
    ) -> None:
        super().__init__(location, options, where=where, role=role)
        if not location.startswith("https://"):
            raise ConfigError(f"{where or 'rest'}: the location must be an https:// URL (TLS is always verified)")
        self.profile_class = profile_class(self.options.profile)
        if role is not None:
            missing = {Capability.ACCOUNTS, Capability.RELATIONS} - self.profile_class.supports.get(role, frozenset())
            if len(missing) == 2:
                raise ConfigError(f"{where or 'rest'}: the {self.options.profile} profile cannot be a {role}")
        opts = self.options
        auth_kind = opts.authentication or self.profile_class.default_auth
        base = location.rstrip("/")
        # The profile's default token and login paths are relative: httpx resolves them under the base URL.
        resolved = dataclasses.replace(
            opts,
            authentication=auth_kind,
            oauth_url=opts.oauth_url or self.profile_class.default_token_path,
            login_path=opts.login_path or self.profile_class.default_login_path,
        )
        settings = ClientSettings(
            base_url=base,
            ca_file=opts.ca_file,
            connect_timeout=opts.connect_timeout,
            read_timeout=opts.read_timeout,
            concurrency=opts.concurrency,
            requests_per_second=opts.requests_per_second,
            max_retry_after=opts.max_retry_after,
            read_attempts=opts.read_attempts,
            quota_backoff=opts.quota_backoff,
        )
        self._decoder = _LateDecoder()
        self.client = RestClient(settings, make_auth(resolved), self._decoder)
        self.profile: Profile = self.profile_class(self.client, resolved, self.problems)
        self._decoder.profile = self.profile

    @property
    def tls_fingerprint(self) -> str | None:
        """SHA-256 (hex) of the server certificate, once a request has been answered; for the run record."""
        return self.client.tls_fingerprint

    # -- lifecycle -----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        try:
            detail = self.profile.check()
        except UnreachableError as exc:
            authenticated = False if "credentials" in str(exc) or "session" in str(exc) else None
            return CheckResult(reachable=authenticated is not None, authenticated=authenticated, detail=str(exc))
        except ConnectorError as exc:
            return CheckResult(reachable=False, authenticated=None, detail=str(exc))
        return CheckResult(
            reachable=True,
            authenticated=True,
            detail=f"{self.options.profile}: {detail}; TLS certificate sha256:{self.tls_fingerprint}",
        )

    def notices(self) -> list[str]:
        if len(self.client.tls_fingerprints) > 1:
            return [f"the server presented {len(self.client.tls_fingerprints)} different TLS certificates in this run"]
        return []

    def close(self) -> None:
        self.client.close()

    # -- source side ---------------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        self._need(Capability.ACCOUNTS, Role.SOURCE)
        yield from self.profile.read_accounts()

    def read_groups(self) -> Iterator[Group]:
        self._need(Capability.GROUPS, Role.SOURCE)
        yield from self.profile.read_groups()

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        self._need(Capability.RELATIONS, Role.SOURCE)
        yield from self.profile.read_relations()

    # -- target side ---------------------------------------------------------------------------
    def rules(self) -> TargetRules:
        return self.profile.rules()

    def write_account(self, op: Operation) -> None:
        self._write(op)

    def write_group(self, op: Operation) -> None:
        self._write(op)

    def write_relation(self, op: Operation) -> None:
        self._write(op)

    def delete(self, kind: RecordKind, key: str) -> None:
        self._need(Capability.DELETE, Role.TARGET)
        self.profile.delete(kind, key)

    # -- internals -----------------------------------------------------------------------------
    def _write(self, op: Operation) -> None:
        self._need(capability_for_kind(op.kind), Role.TARGET)
        self.profile.write(op)

    def _need(self, capability: Capability, role: Role) -> None:
        # Reading back a target uses the source-side readers: a target's profile is asked as a source.
        supported = self.profile_class.supports.get(role, frozenset())
        if capability not in supported:
            kinds = ", ".join(CAPABILITY_KINDS.get(capability, ()))
            raise TerminalError(
                f"the {self.options.profile} profile does not support {capability}"
                f"{f' ({kinds})' if kinds else ''} as a {role}"
            )


class _LateDecoder:
    """The client's error decoder, forwarding to the profile once it exists (the profile needs the client)."""

    profile: Profile | None = None

    @property
    def login_paths(self) -> tuple[str, ...]:
        return self.profile.login_paths if self.profile else ()

    def body_error(self, status: int, payload: Any) -> str | None:
        return self.profile.body_error(status, payload) if self.profile else None

    def error_message(self, status: int, payload: Any) -> str:
        return self.profile.error_message(status, payload) if self.profile else "error"

    def is_quota(self, status: int, payload: Any) -> bool:
        return self.profile.is_quota(status, payload) if self.profile else False
