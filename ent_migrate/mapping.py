"""The declarative mapping (mappings/*.toml): how logins are built, what happens to accounts gone
from the source, class renames and splits, and attribute transforms. Documented in mappings/README.md.

A transform is a list of steps from a closed set (:data:`TRANSFORM_STEPS`): no code and no pattern
from the file is ever run, so a mapping can be reviewed by reading it.

Every key is checked: an unknown section or key, a wrong type or a bad value is a ConfigError naming
the file and the line, because a mapping silently half-applied would give an académie wrong logins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import string
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ent_migrate.errors import ConfigError
from ent_migrate.matching.normalise import fold_ascii
from ent_migrate.matching.score import DEFAULT_WEIGHTS, Weights
from ent_migrate.tomlwhere import parse_toml, where

__all__ = [
    "LOGIN_FIELDS",
    "ON_MISSING",
    "SPLIT_RULES",
    "TRANSFORM_FIELDS",
    "TRANSFORM_STEPS",
    "ClassSplit",
    "MappingSpec",
    "Step",
    "apply_steps",
    "load_mapping",
]

#: the placeholders a login template may use
LOGIN_FIELDS = ("first", "last", "first_initial", "sep")
#: what plan proposes for a person the target holds and the source no longer has
ON_MISSING = ("disable", "delete", "keep")

#: how a split class shares its pupils out: consecutive alphabetical parts, or a list per part
SPLIT_RULES = ("alphabetical", "listed")
#: the steps a transform may use; ``truncate:N`` and ``{replace = ["from", "to"]}`` take arguments
TRANSFORM_STEPS = ("lower", "upper", "strip", "fold_ascii", "truncate:N", "replace")
#: the fields a transform may change, per kind: text meant for display, never a key or a link
TRANSFORM_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("last_name", "first_name", "birth_name", "civility", "other_first_names", "emails"),
    "group": ("name",),
}
_MAX_REPLACE = 200  # characters of a replace step's literals: a mapping is reviewed by reading it

#: section → key → (type, default), for the flat sections
_SCHEMA: dict[str, dict[str, tuple[type, Any]]] = {
    "login": {
        "template": (str, "{first}.{last}"),
        "separator": (str, "."),
        "max_length": (int, 32),
        "keep_existing": (bool, True),
    },
    "accounts": {"on_missing": (str, "disable")},
    # The score's weights and thresholds (ent_migrate.matching.score.Weights): each key is optional.
    "matching": {f.name: (float, f.default) for f in dataclasses.fields(Weights)},
}
_TABLES = ("classes", "transforms")  # sections with their own checks

#: one transform step: ("lower",), ("truncate", "8"), ("replace", "from", "to")
Step = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ClassSplit:
    """One class cut into several: ``into`` the new codes, pupils shared by ``rule``.

    ``alphabetical``: the pupils sorted by folded last name, first name and id, cut into
    ``len(into)`` consecutive parts as even as possible (the first parts take one more);
    ``listed``: ``pupils`` says, per pupil id, which part (a pupil not listed is an error).
    Teachers and anyone not a pupil are in every part."""

    into: tuple[str, ...]
    rule: str
    pupils: Mapping[str, str]
    where: str  # file:line, for an error met when the rule is applied


@dataclasses.dataclass(frozen=True)
class MappingSpec:
    name: str
    login_template: str = "{first}.{last}"
    login_max_length: int = 32
    login_separator: str = "."
    #: keep a person's old login where the target accepts it and it is free; when false (or it
    #: cannot be kept) the old login is recorded as an alias in the old → new map
    login_keep_existing: bool = True
    on_missing_person: str = "disable"  # one of ON_MISSING
    #: class code (every school) or ``UAI$code`` (one school) → new code
    class_renames: Mapping[str, str] = dataclasses.field(default_factory=dict)
    class_splits: Mapping[str, ClassSplit] = dataclasses.field(default_factory=dict)
    #: kind → field → steps, applied in the map stage (matching sees the source's values)
    transforms: Mapping[str, Mapping[str, tuple[Step, ...]]] = dataclasses.field(default_factory=dict)
    #: reconcile's weights and thresholds ([matching])
    weights: Weights = DEFAULT_WEIGHTS
    digest: str = ""

    def class_rule(self, uai: str, code: str) -> str | ClassSplit | None:
        """What happens to class *code* of school *uai*: a new code, a split, or None (kept)."""
        for key in (f"{uai}${code}", code):
            if key in self.class_splits:
                return self.class_splits[key]
            if key in self.class_renames:
                return self.class_renames[key]
        return None


def apply_steps(value: str, steps: Sequence[Step]) -> str:
    """*value* through each step, in order."""
    for step in steps:
        op = step[0]
        if op == "lower":
            value = value.lower()
        elif op == "upper":
            value = value.upper()
        elif op == "strip":
            value = " ".join(value.split())  # ends trimmed and inner runs of spaces made one
        elif op == "fold_ascii":
            value = fold_ascii(value)
        elif op == "truncate":
            value = value[: int(step[1])]
        elif op == "replace":
            value = value.replace(step[1], step[2])
    return value


def _check(name: str, text: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section not in _SCHEMA and section not in _TABLES:
            raise ConfigError(
                f"{where(name, text, section)}: unknown section [{section}] "
                f"(known: {', '.join(f'[{s}]' for s in (*_SCHEMA, *_TABLES))})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: {section} must be a table ([{section}])")
        if section in _TABLES:
            out[section] = table
            continue
        for key, value in table.items():
            schema = _SCHEMA[section]
            if key not in schema:
                raise ConfigError(
                    f"{where(name, text, section, key)}: unknown key {key} in [{section}] (known: {', '.join(schema)})"
                )
            kind = schema[key][0]
            # A weight may be written 1 as well as 1.0; a boolean is never a number here.
            accepted = (int, float) if kind is float else kind
            if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
                raise ConfigError(
                    f"{where(name, text, section, key)}: [{section}] {key} must be "
                    f"{ {int: 'an integer', bool: 'true or false', float: 'a number'}.get(kind, 'a string') }"
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


def _weights(name: str, text: str, table: Mapping[str, float]) -> Weights:
    for key, value in table.items():
        if not math.isfinite(value) or abs(value) > 10:
            raise ConfigError(f"{where(name, text, 'matching', key)}: [matching] {key} must be between -10 and 10")
    accept, review = (
        float(table.get("accept", DEFAULT_WEIGHTS.accept)),
        float(table.get("review", DEFAULT_WEIGHTS.review)),
    )
    for threshold, value in (("accept", accept), ("review", review)):
        if value <= 0:
            raise ConfigError(f"{where(name, text, 'matching', threshold)}: [matching] {threshold} must be above 0")
    if review > accept:
        raise ConfigError(
            f"{where(name, text, 'matching', 'review')}: [matching] review ({review}) must not be above "
            f"accept ({accept}): a score between them would be both a match and a doubt"
        )
    return dataclasses.replace(DEFAULT_WEIGHTS, **{k: float(v) for k, v in table.items()})


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
    text, data = parse_toml(raw, name)
    tables = _check(name, text, data)
    login, accounts = tables.get("login", {}), tables.get("accounts", {})
    renames, splits = _classes(name, text, tables.get("classes", {}))
    spec = MappingSpec(
        name=name,
        weights=_weights(name, text, tables.get("matching", {})),
        login_template=login.get("template", _SCHEMA["login"]["template"][1]),
        login_max_length=login.get("max_length", _SCHEMA["login"]["max_length"][1]),
        login_separator=login.get("separator", _SCHEMA["login"]["separator"][1]),
        login_keep_existing=login.get("keep_existing", _SCHEMA["login"]["keep_existing"][1]),
        on_missing_person=accounts.get("on_missing", _SCHEMA["accounts"]["on_missing"][1]),
        class_renames=renames,
        class_splits=splits,
        transforms=_transforms(name, text, tables.get("transforms", {})),
        digest=hashlib.sha256(raw).hexdigest(),
    )
    _validate(name, text, spec)
    return spec


def _at(name: str, text: str, section: str, key: str | None = None) -> str:
    """``file:line`` of *key* in *section*, trying the quoted spellings TOML allows for both."""
    sections = [section]
    head, _, last = section.rpartition(".")
    if head:
        sections += [f'{head}."{last}"', f"{head}.'{last}'"]
    keys: list[str | None] = [key, f'"{key}"', f"'{key}'"] if key is not None else [None]
    for s in sections:
        for k in keys:
            found = where(name, text, s, k)
            if found != name:
                return found
    return where(name, text, head) if head else name


def _code(name: str, text: str, section: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or "$" in value or len(value) > 64:
        raise ConfigError(
            f"{_at(name, text, section, key)}: [{section}] {key!r} must name a class code (1 to 64 characters, no '$')"
        )
    return value


def _classes(name: str, text: str, table: dict[str, Any]) -> tuple[dict[str, str], dict[str, ClassSplit]]:
    unknown = sorted(set(table) - {"rename", "split"})
    if unknown:
        raise ConfigError(
            f"{_at(name, text, 'classes', unknown[0])}: unknown key {unknown[0]} in [classes] (known: rename, split)"
        )
    renames: dict[str, str] = {}
    for old, new in (table.get("rename") or {}).items():
        renames[old] = _code(name, text, "classes.rename", old, new)
    splits: dict[str, ClassSplit] = {}
    for old, spec in (table.get("split") or {}).items():
        section = f"classes.split.{old}"
        here = _at(name, text, section)
        if not isinstance(spec, dict):
            raise ConfigError(f"{here}: [classes.split] {old!r} must be a table with into and rule")
        extra = sorted(set(spec) - {"into", "rule", "pupils"})
        if extra:
            raise ConfigError(
                f"{_at(name, text, section, extra[0])}: unknown key {extra[0]} (known: into, rule, pupils)"
            )
        into = spec.get("into")
        if not isinstance(into, list) or len(into) < 2 or len(set(into)) != len(into):
            raise ConfigError(f"{_at(name, text, section, 'into')}: into must list two or more different class codes")
        parts = tuple(_code(name, text, section, "into", part) for part in into)
        rule = spec.get("rule", "alphabetical")
        if rule not in SPLIT_RULES:
            raise ConfigError(f"{_at(name, text, section, 'rule')}: rule must be {' or '.join(SPLIT_RULES)}")
        pupils: dict[str, str] = {}
        listed = spec.get("pupils") or {}
        if (rule == "listed") != bool(listed) or not isinstance(listed, dict):
            raise ConfigError(
                f"{_at(name, text, section, 'pupils' if listed else 'rule')}: "
                'pupils = {"<part>" = ["<pupil id>", ...]} goes with rule = "listed", and only with it'
            )
        for part, ids in listed.items():
            if part not in parts or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ConfigError(
                    f"{_at(name, text, section, 'pupils')}: pupils {part!r} must be a part of into, listing ids"
                )
            for pupil in ids:
                if pupil in pupils:
                    raise ConfigError(f"{_at(name, text, section, 'pupils')}: pupil {pupil!r} is listed in two parts")
                pupils[pupil] = part
        splits[old] = ClassSplit(parts, rule, pupils, _at(name, text, section, "into"))
    both = sorted(set(renames) & set(splits))
    if both:
        raise ConfigError(f"{_at(name, text, 'classes.rename', both[0])}: class {both[0]!r} is both renamed and split")
    # A rule's result is final: a chain (A → B, B → C) would depend on the order rules are read in.
    made = {new: old for old, new in renames.items()} | {p: old for old, s in splits.items() for p in s.into}
    chained = sorted(
        c for c in made if c in renames or c in splits or any(k.endswith("$" + c) for k in (*renames, *splits))
    )
    if chained:
        raise ConfigError(
            f"{_at(name, text, 'classes.rename', chained[0]) if chained[0] in renames else name}: class "
            f"{chained[0]!r} is made by the rule for {made[chained[0]]!r} and changed again by another"
        )
    return renames, splits


def _step(name: str, text: str, section: str, key: str, raw: object) -> Step:
    here = _at(name, text, section, key)
    if isinstance(raw, str):
        if raw in ("lower", "upper", "strip", "fold_ascii"):
            return (raw,)
        op, _, arg = raw.partition(":")
        if op == "truncate" and arg.isdigit() and 1 <= int(arg) <= 256:
            return ("truncate", arg)
    elif isinstance(raw, dict) and set(raw) == {"replace"}:
        pair = raw["replace"]
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, str) and len(v) <= _MAX_REPLACE for v in pair)
            and pair[0]
        ):
            return ("replace", pair[0], pair[1])
        raise ConfigError(f'{here}: replace takes two literal strings, {{replace = ["from", "to"]}} ("from" not empty)')
    raise ConfigError(
        f"{here}: [{section}] {key}: {raw!r} is not a transform step "
        '(lower, upper, strip, fold_ascii, "truncate:N" with N from 1 to 256, {replace = ["from", "to"]})'
    )


def _transforms(name: str, text: str, table: dict[str, Any]) -> dict[str, dict[str, tuple[Step, ...]]]:
    out: dict[str, dict[str, tuple[Step, ...]]] = {}
    for kind, fields in table.items():
        section = f"transforms.{kind}"
        if kind not in TRANSFORM_FIELDS or not isinstance(fields, dict):
            raise ConfigError(
                f"{_at(name, text, section)}: [transforms] applies to "
                f"{', '.join(f'[transforms.{k}]' for k in TRANSFORM_FIELDS)}, not {kind!r}"
            )
        for field, steps in fields.items():
            if field not in TRANSFORM_FIELDS[kind]:
                raise ConfigError(
                    f"{_at(name, text, section, field)}: [{section}] may change "
                    f"{', '.join(TRANSFORM_FIELDS[kind])}, not {field}"
                )
            if not isinstance(steps, list) or not steps:
                raise ConfigError(f"{_at(name, text, section, field)}: [{section}] {field} must be a list of steps")
            out.setdefault(kind, {})[field] = tuple(_step(name, text, section, field, s) for s in steps)
    return out
