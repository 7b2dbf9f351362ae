"""The TOML configuration file, and the rule that secrets only come from the environment.

Sections: ``[state]`` (url), ``[source.NAME]`` and ``[target.NAME]`` (``spec`` plus the connector's
options), ``[mapping]``, ``[safety]`` (thresholds), ``[run]``, ``[report]``, ``[privacy]``.

A value may reference the environment as ``${VAR}``. A key that holds a secret (password, secret,
token, key, credential...) must be *only* such a reference: a literal secret in a file is refused
with a message saying how to pass it, because config files get copied, mailed and committed.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ent_migrate.errors import ConfigError
from ent_migrate.tomlwhere import parse_toml

__all__ = [
    "SECTIONS",
    "Config",
    "check_spec_secrets",
    "check_url_secrets",
    "expand_env",
    "is_secret_key",
    "load_config",
]

SECTIONS = ("state", "source", "target", "mapping", "safety", "run", "report", "privacy", "promotion")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "mot_de_passe",
    "motdepasse",
    "bind_pw",
)
_SECRET_KEYS = {"key", "hmac_key", "pseudonym_key", "pwd", "pass", "auth", "mdp"}


#: Keys whose value is not a secret although they end in ``_key`` or name one: a public key (the vendor's
#: PEM that checks a hand-back's signatures) and the path to a key file (the file is kept 0600; its
#: path is no secret). ``api_key``, ``private_key``, ``signing_key`` themselves stay refused.
_NOT_SECRET = re.compile(r"(?:.+_)?public_?key|.+_key_(?:file|path)")
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if _NOT_SECRET.fullmatch(lowered):
        return False
    parts = set(re.split(r"[^a-z0-9]+", lowered))
    return (
        any(word in lowered for word in _SECRET_WORDS)
        or lowered in _SECRET_KEYS
        or lowered.endswith("_key")  # encryption_key, signing_key, ...
        or bool(parts & {"pwd", "auth", "mdp"})
    )


def expand_env(value: str, where: str) -> str:
    """Replace each ``${VAR}`` by the environment's value; a missing variable is an error."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(repl, value)


_URL_PASSWORD = re.compile(r"://[^/@?#]*?:([^@/?#]*)@")
_URL_QUERY_SECRET = re.compile(r"[?&]([^=&#]+)=([^&#]*)")


def _url_secrets(url: str) -> Iterator[tuple[str | None, str]]:
    """The secrets a URL holds, each as (None, the password) or (a secret parameter's name, its value)."""
    found = _URL_PASSWORD.search(url)
    if found and found.group(1):
        yield None, found.group(1)
    for name, value in _URL_QUERY_SECRET.findall(url):
        if is_secret_key(name) and value:
            yield name, value


def check_url_secrets(url: str, where: str) -> None:
    """A database URL may hold a password only as a ``${VAR}`` reference (or none at all: libpq's
    passfile and PGPASSWORD work as usual); a secret query parameter likewise."""
    fix = (
        "write it as postgresql://user:${PGPASSWORD_VAR}@host/db with the password exported, "
        "or leave it out and use a libpq passfile (~/.pgpass) or PGPASSWORD"
    )
    for name, value in _url_secrets(url):
        if _ENV_REF.fullmatch(value):
            continue
        if name is None:
            raise ConfigError(f"{where}: the URL holds a literal password; passwords are never written in clear: {fix}")
        raise ConfigError(f"{where}: the URL's {name}= parameter holds a literal secret: {fix}")


def check_spec_secrets(spec: str, where: str) -> None:
    """A connector spec holds no password nor secret parameter, not even as a ``${VAR}`` reference:
    unlike the state URL, the spec is kept as written (expanded) in the state store's runs, in every
    report's inputs and in apply's refusals, which are shared with vendors. Credentials go in the
    connector's own options (``bind_password``, ``password``, ``token`` = "${VAR}"), which are not."""
    fix = 'put the credentials in the connector\'s options (for example password = "${VAR}"), not in the spec'
    for name, _value in _url_secrets(spec):
        if name is None:
            raise ConfigError(f"{where} holds a password; a spec is kept in the state store and the reports: {fix}")
        raise ConfigError(f"{where}: its {name}= parameter holds a secret, and a spec is kept in the reports: {fix}")


def _walk(data: Any, path: str, source: str) -> Any:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            sub = f"{path}.{key}" if path else key
            if (
                is_secret_key(key)
                and not isinstance(value, dict)
                and not (isinstance(value, str) and _ENV_REF.fullmatch(value.strip()))
            ):
                env = "ENT_MIGRATE_" + re.sub(r"[^A-Z0-9]+", "_", sub.upper()).strip("_")
                raise ConfigError(
                    f"{source}: {sub} holds a literal secret; secrets are never written in a config file. "
                    f'Export it (export {env}=...) and write {key} = "${{{env}}}"'
                )
            if _NOT_SECRET.fullmatch(key.lower()) and isinstance(value, str) and _PEM_PRIVATE.search(value):
                # a key file's path is allowed in clear, the key itself pasted in its place is not
                raise ConfigError(
                    f"{source}: {sub} holds a private key, not a path; write the key to a file (mode 0600) "
                    "and give its path"
                )
            out[key] = _walk(value, sub, source)
        return out
    if isinstance(data, list):
        return [_walk(v, f"{path}[{i}]", source) for i, v in enumerate(data)]
    if isinstance(data, str):
        if path == "state.url":
            check_url_secrets(data, f"{source}: [state] url")
        return expand_env(data, f"{source}: {path}")
    return data


@dataclasses.dataclass(frozen=True)
class Config:
    path: Path | None
    data: Mapping[str, Any]

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, Mapping) else {}

    def endpoint(self, role: str, name: str | None = None) -> tuple[str, str, dict[str, Any], str]:
        """The name, spec, options and where (``FILE: [source.NAME]``, for messages) of ``[source.NAME]``
        / ``[target.NAME]`` (the only one if no name)."""
        table = self.section(role)
        if not table:
            raise ConfigError(f"{self.where}: no [{role}.NAME] section")
        if name is None:
            if len(table) != 1:
                raise ConfigError(f"{self.where}: several [{role}.*] sections; name one with --{role}")
            name = next(iter(table))
        if name not in table:
            raise ConfigError(
                f"{self.where}: no [{role}.{name}] section (there are: {', '.join(f'[{role}.{n}]' for n in table)})"
            )
        if not isinstance(table[name], Mapping):
            raise ConfigError(f'{self.where}: [{role}.{name}] must be a table with spec = "NAME:LOCATION"')
        if role == "source" and name.startswith("@"):
            # "@<target>" is the alias source of a target's own accounts in the identity store.
            raise ConfigError(f'{self.where}: [{role}."{name}"]: a source name may not start with "@"')
        options = dict(table[name])
        spec = options.pop("spec", None)
        if not isinstance(spec, str):
            raise ConfigError(f'{self.where}: [{role}.{name}] needs spec = "NAME:LOCATION"')
        check_spec_secrets(spec, f"{self.where}: [{role}.{name}] spec")
        if self.path is not None:
            spec = _relative_spec(spec, self.path.parent)
        return name, spec, options, f"{self.where}: [{role}.{name}]"

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "configuration"


def _relative_spec(spec: str, base: Path) -> str:
    """A relative file location in a config file is relative to the file, not to the caller."""
    name, sep, location = spec.partition(":")
    # A URL (ldaps://host/..., https://...) is no file: it stays as written.
    if sep and location and not location.startswith(("/", "//")) and name not in ("memory",) and "://" not in location:
        return f"{name}:{(base / location).resolve()}"
    return spec


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config(None, {})
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    _, data = parse_toml(raw, str(path))
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return Config(path, _walk(data, "", str(path)))
