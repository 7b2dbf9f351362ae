"""The declarative mapping (mappings/*.toml): how logins are built and what happens to accounts gone
from the source. Documented in mappings/README.md.

Every key is checked: an unknown section or key, a wrong type or a bad value is a ConfigError naming
the file and the line, because a mapping silently half-applied would give an académie wrong logins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import string
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from ent_migrate.errors import ConfigError
from ent_migrate.tomlwhere import where

__all__ = ["LOGIN_FIELDS", "ON_MISSING", "MappingSpec", "load_mapping"]

#: the placeholders a login template may use
LOGIN_FIELDS = ("first", "last", "first_initial", "sep")
#: what plan proposes for a person the target holds and the source no longer has
ON_MISSING = ("disable", "delete", "keep")

#: section → key → (type, default)
_SCHEMA: dict[str, dict[str, tuple[type, Any]]] = {
    "login": {"template": (str, "{first}.{last}"), "separator": (str, "."), "max_length": (int, 32)},
    "accounts": {"on_missing": (str, "disable")},
}


@dataclasses.dataclass(frozen=True)
class MappingSpec:
    name: str
    login_template: str = "{first}.{last}"
    login_max_length: int = 32
    login_separator: str = "."
    on_missing_person: str = "disable"  # one of ON_MISSING
    digest: str = ""


def _check(name: str, text: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section not in _SCHEMA:
            raise ConfigError(
                f"{where(name, text, section)}: unknown section [{section}] "
                f"(known: {', '.join(f'[{s}]' for s in _SCHEMA)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: {section} must be a table ([{section}])")
        for key, value in table.items():
            schema = _SCHEMA[section]
            if key not in schema:
                raise ConfigError(
                    f"{where(name, text, section, key)}: unknown key {key} in [{section}] (known: {', '.join(schema)})"
                )
            kind = schema[key][0]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ConfigError(
                    f"{where(name, text, section, key)}: [{section}] {key} must be "
                    f"{'an integer' if kind is int else 'a string'}"
                )
        out[section] = table
    return out


def _validate(name: str, text: str, spec: MappingSpec) -> None:
    fields = {f for _, f, _, _ in string.Formatter().parse(spec.login_template) if f is not None}
    unknown = sorted(fields - set(LOGIN_FIELDS))
    if unknown or not fields:
        raise ConfigError(
            f"{where(name, text, 'login', 'template')}: [login] template may use "
            f"{', '.join('{' + f + '}' for f in LOGIN_FIELDS)}"
            + (f", not {', '.join('{' + f + '}' for f in unknown)}" if unknown else " (it uses none)")
        )
    if not 3 <= spec.login_max_length <= 256:
        raise ConfigError(f"{where(name, text, 'login', 'max_length')}: [login] max_length must be 3 to 256")
    if spec.on_missing_person not in ON_MISSING:
        raise ConfigError(
            f"{where(name, text, 'accounts', 'on_missing')}: [accounts] on_missing must be "
            f"{', '.join(ON_MISSING[:-1])} or {ON_MISSING[-1]}"
        )


def load_mapping(ref: str | None, base: Path | None = None) -> MappingSpec:
    """A shipped mapping by name (``default``) or a TOML file path (relative to *base*)."""
    ref = ref or "default"
    path = Path(ref)
    if not path.suffix and not path.exists():
        resource = resources.files("ent_migrate.mappings").joinpath(f"{ref}.toml")
        if not resource.is_file():
            raise ConfigError(f"[mapping]: no shipped mapping named {ref!r} (give a .toml path, or 'default')")
        raw, name = resource.read_bytes(), f"mappings/{ref}.toml"
    else:
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"[mapping]: cannot read {path} ({exc.strerror})") from None
        name = str(path)
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    tables = _check(name, text, data)
    login, accounts = tables.get("login", {}), tables.get("accounts", {})
    spec = MappingSpec(
        name=name,
        login_template=login.get("template", _SCHEMA["login"]["template"][1]),
        login_max_length=login.get("max_length", _SCHEMA["login"]["max_length"][1]),
        login_separator=login.get("separator", _SCHEMA["login"]["separator"][1]),
        on_missing_person=accounts.get("on_missing", _SCHEMA["accounts"]["on_missing"][1]),
        digest=hashlib.sha256(raw).hexdigest(),
    )
    _validate(name, text, spec)
    return spec
