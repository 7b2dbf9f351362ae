"""The connector registry: one registration path, the ``ent_migrate.connectors`` entry-point group.

Built-in connectors are registered in ent-migrate's own ``pyproject.toml`` exactly as a third-party
distribution registers its own. Two entry points with one name are an error (never "last one wins"),
and so is a class whose declared capabilities differ from what it implements.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ent_migrate.contract import Connector, ConnectorOptions, Role, implemented_capabilities, missing_methods
from ent_migrate.errors import ConfigError, RegistryError, SpecError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConnectorInfo",
    "connector_class",
    "load_registry",
    "open_connector",
    "parse_spec",
    "validate_connector_class",
]

ENTRY_POINT_GROUP = "ent_migrate.connectors"


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectorInfo:
    name: str
    cls: type[Connector]
    distribution: str  # which installed distribution registered it
    value: str  # "module:attr"


def validate_connector_class(cls: object, entry_name: str) -> type[Connector]:
    """Check that *cls* is a well-formed connector registered under *entry_name*."""
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise RegistryError(f"entry point {entry_name!r} is not a Connector subclass")
    if cls.name != entry_name:
        raise RegistryError(f"entry point {entry_name!r} loads a connector named {cls.name!r}")
    if not cls.roles:
        raise RegistryError(f"connector {entry_name!r} declares no role (source and/or target)")
    options = cls.Options
    if not (
        isinstance(options, type)
        and issubclass(options, ConnectorOptions)
        and dataclasses.is_dataclass(options)
        and getattr(options, "__dataclass_params__").frozen  # noqa: B009 - set by @dataclass, unknown to mypy
    ):
        raise RegistryError(
            f"connector {entry_name!r}: Options must be a frozen dataclass subclassing ConnectorOptions"
        )
    implemented = implemented_capabilities(cls)
    undeclared = sorted(implemented - cls.capabilities)
    unimplemented = sorted(cls.capabilities - implemented)
    if unimplemented:
        raise RegistryError(
            f"connector {entry_name!r} declares {', '.join(unimplemented)} but does not implement "
            f"{', '.join(missing_methods(cls)) or 'them'}"
        )
    if undeclared:
        raise RegistryError(f"connector {entry_name!r} implements {', '.join(undeclared)} without declaring it")
    return cls


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "?"


@functools.cache
def load_registry() -> Mapping[str, ConnectorInfo]:
    """Load and check every registered connector. Cached: entry points do not change in a process."""
    found: dict[str, ConnectorInfo] = {}
    seen: dict[str, str] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        if ep.name in seen and seen[ep.name] != ep.value:
            raise RegistryError(
                f"two connectors are registered as {ep.name!r}: {seen[ep.name]} and {ep.value} "
                f"({_distribution(ep)}); uninstall one of them"
            )
        if ep.name in seen:  # the same distribution seen twice on sys.path (editable + site)
            continue
        seen[ep.name] = ep.value
        try:
            obj = ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide which one it is
            raise RegistryError(f"connector {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        cls = validate_connector_class(obj, ep.name)
        found[ep.name] = ConnectorInfo(ep.name, cls, _distribution(ep), ep.value)
    return dict(sorted(found.items()))


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``NAME:LOCATION``. For URL schemes (``ldap://h/dc=x``) the location keeps the ``//``."""
    name, sep, location = spec.partition(":")
    if not sep or not name:
        raise SpecError(f"{spec!r} is not a connector spec: write NAME:LOCATION, e.g. memory: or package:/path")
    return name, location


def connector_class(name: str) -> type[Connector]:
    registry = load_registry()
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise SpecError(f"no connector named {name!r} (registered: {known})")
    return registry[name].cls


def open_connector(
    spec: str, options: Mapping[str, Any] | None = None, *, where: str = "", role: Role | None = None
) -> Connector:
    """Instantiate the connector a spec names, for *role*. *where* names the config section in option errors."""
    name, location = parse_spec(spec)
    cls = connector_class(name)
    if role is not None and role not in cls.roles:
        raise ConfigError(f"{where or spec}: the {name} connector cannot be a {role}")
    return cls(location, options, where=f"{where} ({name})" if where else f"{name} options", role=role)
