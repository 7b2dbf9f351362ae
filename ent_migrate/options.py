"""Typed connector options: each connector declares a frozen dataclass, and the TOML table is checked
against it before the connector runs.

A misspelt option (``transient_eror``) or a wrong type (``seed = "one"``) is a :class:`ConfigError`
naming the config section and the key and listing the known keys: an option silently ignored could
change every person key of an académie (a typo in AAF's ``academy_prefix``).

Field types understood: ``str``, ``int``, ``float``, ``bool``, ``X | None`` of those, ``tuple[str, ...]``
and ``Mapping[str, ...]`` of those. Each field says what it does in ``metadata["help"]`` (see
:func:`option`), which ``ent-migrate connectors about NAME`` prints for users.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from ent_migrate.errors import ConfigError

__all__ = ["NoOptions", "OptionInfo", "describe_options", "option", "parse_options"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class NoOptions:
    """The options of a connector that takes none."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, empty_table: bool = False) -> Any:
    """A dataclass field with its default and one line of help for ``connectors about``.
    ``empty_table=True`` makes the default an empty read-only mapping."""
    if isinstance(default, dict | list | set):
        raise TypeError("use an immutable default (tuple, or empty_table=True) for an option")
    if empty_table:
        return dataclasses.field(default_factory=lambda: types.MappingProxyType({}), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True, slots=True)
class OptionInfo:
    name: str
    type: str
    default: Any
    help: str


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " | ".join(_type_name(a) for a in args) + " (optional)"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (Mapping, dict) or (origin is not None and issubclass(origin, Mapping)):
        return f"table of {_type_name(typing.get_args(tp)[1])}"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def describe_options(cls: type[Any]) -> list[OptionInfo]:
    """The options of a dataclass, for ``connectors about``."""
    hints = _hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        default = field.default if field.default is not dataclasses.MISSING else None
        if field.default_factory is not dataclasses.MISSING:
            default = dict(field.default_factory())
        out.append(OptionInfo(field.name, _type_name(hints[field.name]), default, field.metadata.get("help", "")))
    return out


class _Mismatch(Exception):
    def __init__(self, expected: str, got: Any) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got


def _got(value: Any) -> str:
    return {
        str: "a string",
        bool: "true/false",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _convert(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value)
            except _Mismatch:
                continue
        raise _Mismatch(_type_name(tp), value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch(_type_name(tp), value)
        return tuple(_convert(typing.get_args(tp)[0], v) for v in value)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch(_type_name(tp), value)
        key_t, value_t = typing.get_args(tp)
        return types.MappingProxyType({_convert(key_t, k): _convert(value_t, v) for k, v in value.items()})
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch("true/false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("an integer", value)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch("a number", value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("a string", value)
    raise TypeError(f"option type {tp!r} is not supported")  # a connector author's mistake


def parse_options(cls: type[T], raw: Mapping[str, Any] | None, where: str) -> T:
    """Check *raw* against the options dataclass *cls* and build it. *where* names the config section
    (``[source.vendor_a] (aaf)``) in every message."""
    if isinstance(raw, cls):  # already typed (library use)
        return raw
    raw = dict(raw or {})
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    known = ", ".join(sorted(fields)) or "none"
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown option {', '.join(unknown)} (known options: {known})")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            values[name] = _convert(hints[name], value)
        except _Mismatch as exc:
            raise ConfigError(f"{where}: option {name} must be {exc.expected}, not {_got(value)}") from None
    missing = sorted(
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{where}: missing option {', '.join(missing)}")
    try:
        return cls(**values)
    except ValueError as exc:  # a __post_init__ range check
        raise ConfigError(f"{where}: {exc}") from None
